// What gets measured: the baseline, jwtgate, and jwtgate variants (the same gate with extra env).
// Every target is one process listening on its own loopback port.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { startProcess, waitForPort } from './procs.mjs'

// JWTGATE_* from the caller's shell (a JWTGATE_CONFIG, a REDIS_URL) would change what is measured
// without showing up anywhere: drop them (spawn ignores undefined values).
const inherited = () =>
  Object.fromEntries(
    Object.keys(process.env)
      .filter((k) => k.startsWith('JWTGATE_'))
      .map((k) => [k, undefined]),
  )

// The gate's settings for the bench: trust the bench JWKS only, warn-level logs (a log line per
// request would measure the logger), production mode as deployed.
function gateEnv({ port, jwksUrl, issuer, audience, dataDir }) {
  return {
    ...inherited(),
    JWTGATE_HOST: '127.0.0.1',
    JWTGATE_PORT: String(port),
    JWTGATE_JWKS_URL: jwksUrl,
    JWTGATE_ISSUER: issuer,
    JWTGATE_AUDIENCE: audience,
    JWTGATE_DATA_DIR: dataDir,
    JWTGATE_LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  }
}

// opts: parsed options; ctx: { root, work, logs, ports (iterator), jwksUrl, issuer, audience,
// redisUrl }. Returns target descriptions; nothing is started yet.
export function planTargets(opts, ctx) {
  const gateCmd = opts.gateCmd
    ? ['/bin/sh', ['-c', `exec ${opts.gateCmd}`]] // exec: the measured pid is the server itself
    : [process.execPath, [path.join(ctx.root, 'bin/jwtgate.js'), 'serve']]
  const targets = [
    {
      name: 'baseline',
      verifies: false,
      cmd: process.execPath,
      args: [path.join(ctx.root, 'bench/targets/baseline.mjs')],
      env: (port) => ({ PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production' }),
    },
  ]
  for (const v of [{ name: 'jwtgate', env: {} }, ...opts.variants]) {
    const extra = Object.fromEntries(
      Object.entries(v.env).map(([k, val]) => [k, val.replaceAll('{redis}', ctx.redisUrl ?? '')]),
    )
    const dataDir = path.join(ctx.work, 'data', v.name)
    targets.push({
      name: v.name,
      verifies: true,
      extraEnv: extra,
      cmd: gateCmd[0],
      args: gateCmd[1],
      env: (port) => ({ ...gateEnv({ ...ctx, port, dataDir }), ...extra }),
      dataDir,
    })
  }
  return targets
}

// Start every target at once (a gate may take a while to load), then wait for each port.
// A target that fails to come up is returned with `.failure` instead of thrown: the others
// can still be measured and the failure reported.
export async function startTargets(targets, ctx) {
  for (const t of targets) {
    t.port = ctx.ports.next().value
    if (t.dataDir) mkdirSync(t.dataDir, { recursive: true })
    t.entry = startProcess(t.name, t.cmd, t.args, {
      cwd: ctx.root,
      env: t.env(t.port),
      logFile: path.join(ctx.logs, `${t.name}.log`),
    })
  }
  await Promise.all(
    targets.map((t) =>
      waitForPort(t.entry, t.port, 30_000).catch((err) => {
        t.failure = [err.message]
      }),
    ),
  )
  return targets
}
