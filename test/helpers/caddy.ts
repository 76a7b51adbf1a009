import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { REPO_ROOT } from './gate.js'
import { freePort } from './ports.js'
import { startProcess } from './processes.js'
import { findBinary } from './requirements.js'

import type { ExitResult } from './processes.js'

/** Absolute path of the Caddyfile this repository ships. */
export const SHIPPED_CADDYFILE = join(REPO_ROOT, 'deploy', 'caddy', 'Caddyfile')

/** Where {@link startCaddy} points the shipped Caddyfile. Addresses are `host:port`. */
export interface CaddyOptions {
  /** A Caddyfile; defaults to {@link SHIPPED_CADDYFILE}. */
  caddyfile?: string
  jwtgate: string
  grafana: string
  /** Loopback port to serve on; a free one by default. */
  listen?: number
}

/** A running `caddy run` with its own home directory. */
export interface Caddy {
  /** Base URL without a trailing slash. */
  readonly url: string
  readonly port: number
  readonly pid: number
  /** The substituted Caddyfile as Caddy read it, for failure messages. */
  readonly config: string
  /** Everything Caddy logged so far (its logs go to stderr). */
  logs(): string
  /** SIGTERM to Caddy's pid, then removes its home directory. */
  stop(): Promise<ExitResult>
}

/**
 * Starts `caddy run --adapter caddyfile` on the shipped Caddyfile after pointing its site
 * address at `http://127.0.0.1:<listen>` and its `forward_auth` and `reverse_proxy` addresses at
 * the given ones, with the admin endpoint off (several Caddys may run at once) and HOME and the
 * XDG directories in a fresh temporary directory. Resolves once Caddy answers HTTP; rejects with
 * Caddy's output when it cannot start.
 */
export async function startCaddy(options: CaddyOptions): Promise<Caddy> {
  const binary = findBinary('caddy')
  if (binary === undefined) throw new Error('caddy not installed (apt-get install caddy)')

  const port = options.listen ?? (await freePort())
  const shipped = await readFile(options.caddyfile ?? SHIPPED_CADDYFILE, 'utf8')
  const config = withTestGlobals(
    substituteCaddyAddresses(shipped, {
      site: `http://127.0.0.1:${port}`,
      jwtgate: options.jwtgate,
      grafana: options.grafana,
    }),
  )

  const home = await mkdtemp(join(tmpdir(), 'jwtgate-caddy-'))
  const file = join(home, 'Caddyfile')
  await writeFile(file, config)

  const child = await startProcess({
    name: 'caddy',
    command: binary,
    args: ['run', '--config', file, '--adapter', 'caddyfile'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      XDG_DATA_HOME: join(home, 'data'),
      XDG_CONFIG_HOME: join(home, 'config'),
    },
  })
  const url = `http://127.0.0.1:${port}`
  const stop = async (): Promise<ExitResult> => {
    const result = await child.stop()
    await rm(home, { recursive: true, force: true })
    return result
  }

  try {
    // Any answer proves Caddy serves; a bare `/` without a token stops at forward_auth.
    await child.waitForHttp(`${url}/`, 10_000)
  } catch (error) {
    await stop()
    throw error
  }
  return { url, port, pid: child.pid, config, logs: child.output, stop }
}

/** New addresses for {@link substituteCaddyAddresses}. */
export interface CaddyAddresses {
  /** The site address, e.g. `http://127.0.0.1:8443`. */
  site: string
  /** `host:port` of the gate, for every `forward_auth` and the gate's own pages. */
  jwtgate: string
  /** `host:port` of Grafana, for every other `reverse_proxy`. */
  grafana: string
}

const SITE_LINE = /^(\s*)([^\s{#][^{#]*?)\s*\{\s*$/
const UPSTREAM_LINE = /^(\s*)(forward_auth|reverse_proxy)(\s+)(@\S+\s+)?([^\s{]+)/

/**
 * Rewrites exactly what an operator changes: the address of the one top-level site block, and
 * the first argument of each `forward_auth` and `reverse_proxy`. A `reverse_proxy` to the
 * address the file's `forward_auth` uses (the gate's own pages) gets the gate's new address,
 * every other one Grafana's. A matcher token before the address is kept. Throws unless there is
 * exactly one site block and at least one of each directive, so a drifting Caddyfile fails
 * loudly.
 */
export function substituteCaddyAddresses(caddyfile: string, addresses: CaddyAddresses): string {
  const found = { site: 0, forward_auth: 0, reverse_proxy: 0 }
  const lines = caddyfile.split('\n')
  const gates = new Set(
    lines.flatMap((line) => {
      const upstream = UPSTREAM_LINE.exec(stripComment(line))
      return upstream?.[2] === 'forward_auth' ? [upstream[5]] : []
    }),
  )
  let depth = 0

  const rewritten = lines.map((line) => {
    const code = stripComment(line)
    const atTop = depth === 0
    depth += count(code, '{') - count(code, '}')

    const site = atTop ? SITE_LINE.exec(code) : null
    if (site) {
      found.site += 1
      return `${site[1]}${addresses.site} {`
    }
    const upstream = UPSTREAM_LINE.exec(code)
    if (!upstream) return line
    const directive = upstream[2] as 'forward_auth' | 'reverse_proxy'
    found[directive] += 1
    const toGate = directive === 'forward_auth' || gates.has(upstream[5])
    const address = toGate ? addresses.jwtgate : addresses.grafana
    const rest = code.slice(upstream[0].length)
    return `${upstream[1]}${directive}${upstream[3]}${upstream[4] ?? ''}${address}${rest}`
  })

  if (found.site !== 1 || found.forward_auth === 0 || found.reverse_proxy === 0) {
    const counts = JSON.stringify(found)
    throw new Error(`expected one site block, forward_auth and reverse_proxy, found ${counts}`)
  }
  return rewritten.join('\n')
}

/**
 * Turns the admin endpoint off, inside the file's global options block or in a new one: its
 * default address, localhost:2019, is one per machine, and two Caddys would collide on it.
 */
function withTestGlobals(caddyfile: string): string {
  const options = '\tadmin off\n'
  const lines = caddyfile.split('\n')
  const first = lines.findIndex((line) => stripComment(line).trim() !== '')
  if (first >= 0 && stripComment(lines[first] ?? '').trim() === '{') {
    lines.splice(first + 1, 0, options.trimEnd())
    return lines.join('\n')
  }
  return `{\n${options}}\n\n${caddyfile}`
}

function count(text: string, char: string): number {
  return text.split(char).length - 1
}

/** Caddyfile comments start with `#` at the beginning of a token; the shipped file quotes none. */
function stripComment(line: string): string {
  return line.replace(/(^|\s)#.*$/, '')
}
