import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { startJWKSServer } from './jwks-server.js'
import { freePort } from './ports.js'
import { startProcess } from './processes.js'
import { createSigningKey, jwks } from './tokens.js'

import type { JWKSServer } from './jwks-server.js'
import type { ExitResult } from './processes.js'
import type { SigningKey } from './tokens.js'

/** The repository root, where `bin/jwtgate.js` and the built `dist/` live. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** A running `jwtgate serve` on a loopback port. */
export interface Gate {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  readonly port: number
  /** `host:port`, the form an nginx `server` line takes. */
  readonly address: string
  readonly pid: number
  /** The fresh `JWTGATE_DATA_DIR`, removed by `stop()`. */
  readonly dataDir: string
  /** Everything the gate wrote to stdout and stderr so far. */
  logs(): string
  /** SIGTERM, SIGKILL after 8 s, then removes the data dir; resolves with how the gate ended. */
  stop(): Promise<ExitResult>
}

/**
 * Runs `node bin/jwtgate.js serve` from the repository root (build first: `npm run build`) on a
 * free loopback port with a fresh data dir and debug logs, and waits until `GET /healthz`
 * answers 200 (15 s at most). Entries of `env` override those defaults.
 *
 * `JWTGATE_*` variables of the test process itself are not passed on, so a developer's own
 * settings cannot change what a test sees.
 */
export async function startGate(env: Record<string, string> = {}): Promise<Gate> {
  const port = await freePort()
  const dataDir = await mkdtemp(join(tmpdir(), 'jwtgate-data-'))
  const child = await startProcess({
    name: 'jwtgate',
    command: process.execPath,
    args: ['bin/jwtgate.js', 'serve'],
    cwd: REPO_ROOT,
    env: {
      ...inheritedEnv(),
      JWTGATE_HOST: '127.0.0.1',
      JWTGATE_PORT: String(port),
      JWTGATE_DATA_DIR: dataDir,
      JWTGATE_LOG_LEVEL: 'debug',
      ...env,
    },
  })

  const url = `http://127.0.0.1:${port}`
  const stop = async (): Promise<ExitResult> => {
    // SPEC allows 5 s of draining after SIGTERM; the extra 3 s keep a slow CI box from a SIGKILL.
    const result = await child.stop(8_000)
    await rm(dataDir, { recursive: true, force: true })
    return result
  }
  try {
    await child.waitForHttp(`${url}/healthz`, 15_000, (status) => status === 200)
  } catch (error) {
    await stop()
    throw error
  }

  return {
    url,
    port,
    address: `127.0.0.1:${port}`,
    pid: child.pid,
    dataDir,
    logs: child.output,
    stop,
  }
}

function inheritedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('JWTGATE_')),
  )
}

/** A gate that trusts a JWKS server of the test's own, and the key that server publishes. */
export interface TrustingGate {
  key: SigningKey
  idp: JWKSServer
  gate: Gate
}

/**
 * Starts a JWKS server publishing one fresh RS256 key, and a gate trusting it for `issuer` and
 * `audience`. The caller stops both.
 */
export async function startGateTrustingIdp(
  issuer: string,
  audience: string,
): Promise<TrustingGate> {
  const key = await createSigningKey()
  const idp = await startJWKSServer(jwks(key).keys)
  const gate = await startGate({
    JWTGATE_JWKS_URL: idp.url,
    JWTGATE_ISSUER: issuer,
    JWTGATE_AUDIENCE: audience,
  })
  return { key, idp, gate }
}
