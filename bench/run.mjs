// `npm run bench`: jwtgate and a bare hono baseline under the same load, in the same run, on
// the same machine; the result that matters is the ratio. See bench/README.md.
import { appendFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkTargets } from './lib/checks.mjs'
import { findTool, machineFacts, nginxHasAuthRequest, requireTools } from './lib/machine.mjs'
import { measure } from './lib/measure.mjs'
import { HELP, parseOptions } from './lib/options.mjs'
import { freePorts, killAllSync, runToEnd, stopAll } from './lib/procs.mjs'
import { header, summarize } from './lib/report.mjs'
import { startJwks, startNginx, startRedis } from './lib/services.mjs'
import { planTargets, startTargets } from './lib/targets.mjs'
import { makeTokens } from './lib/tokens.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const WORK = path.join(ROOT, 'bench/work')
const RESULTS = path.join(ROOT, 'bench/results')

const log = (text) => process.stderr.write(`${text}\n`)

// Exit codes: 0 all measured; 1 harness or setup error; 2 usage; 3 a jwtgate target failed to
// start, failed its checks, died, or got no valid run.
class Exit extends Error {
  constructor(code, message) {
    super(message)
    this.code = code
  }
}

let stopping = false
async function shutdown(code, message) {
  if (stopping) return
  stopping = true
  if (message) log(message)
  await stopAll()
  process.exit(code)
}
process.on('SIGINT', () => {
  if (stopping) killAllSync() // a second Ctrl-C: no more waiting
  shutdown(130, '\nbench: interrupted; stopping everything it started')
})
process.on('SIGTERM', () => shutdown(143, 'bench: terminated; stopping everything it started'))
process.on('exit', killAllSync)

async function build(logs) {
  log('building jwtgate (npm run build)…')
  const { code, out } = await runToEnd('npm', ['run', 'build'], { cwd: ROOT })
  writeFileSync(path.join(logs, 'build.log'), out)
  if (code !== 0) {
    const first = out.split('\n').find((l) => /error/i.test(l)) ?? out.trim().split('\n').pop()
    const where = path.join(logs, 'build.log')
    throw new Exit(3, `npm run build failed (exit ${code}): ${first?.trim()}\nfull log: ${where}`)
  }
}

function stamp() {
  return new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
}

async function main() {
  let opts
  try {
    opts = parseOptions(process.argv.slice(2))
  } catch (err) {
    throw new Exit(2, `bench: ${err.message} (see --help)`)
  }
  if (opts.help) {
    process.stdout.write(`${HELP}\n`)
    return 0
  }

  const viaNginx = opts.scenarios.some((s) => s.endsWith('-via-nginx'))
  let tools
  try {
    tools = requireTools({
      wrk: 'wrk',
      ...(viaNginx ? { nginx: 'nginx' } : {}),
      ...(opts.redis ? { 'redis-server': 'redis-server' } : {}),
    })
  } catch (err) {
    throw new Exit(1, `bench: ${err.message}`)
  }
  if (viaNginx && !(await nginxHasAuthRequest(tools.nginx))) {
    throw new Exit(
      1,
      `bench: ${tools.nginx} lacks http_auth_request_module: install Debian's nginx`,
    )
  }
  tools.nginx ??= findTool('nginx') // for the version line even when no nginx scenario runs

  rmSync(WORK, { recursive: true, force: true })
  mkdirSync(WORK, { recursive: true })
  const outDir = path.join(RESULTS, stamp())
  const logs = path.join(outDir, 'logs')
  mkdirSync(logs, { recursive: true })
  try {
    rmSync(path.join(RESULTS, 'latest'), { force: true })
    symlinkSync(path.basename(outDir), path.join(RESULTS, 'latest'))
  } catch {}
  const raw = path.join(outDir, 'raw.jsonl')
  const record = (obj) => appendFileSync(raw, `${JSON.stringify(obj)}\n`)

  const facts = await machineFacts(tools)
  record({ type: 'facts', ...facts, options: opts })

  if (!opts.gateCmd) await build(logs)

  const portList = await freePorts(8 + opts.variants.length * 2)
  const ports = portList[Symbol.iterator]()
  const jwksPort = ports.next().value
  const issuer = `http://127.0.0.1:${jwksPort}`
  const jwksUrl = `${issuer}/.well-known/jwks.json`

  log(`minting 1 hot and ${opts.coldTokens} cold tokens (RS256)…`)
  const tokens = await makeTokens(WORK, { issuer, coldCount: opts.coldTokens })
  await startJwks({ jwksFile: tokens.files.jwks, port: jwksPort, logs })

  let redisUrl = null
  if (opts.redis) {
    const port = ports.next().value
    await startRedis({ redis: tools['redis-server'], port, work: WORK, logs })
    redisUrl = `redis://127.0.0.1:${port}`
  }

  const ctx = {
    root: ROOT,
    work: WORK,
    logs,
    ports,
    jwksUrl,
    issuer,
    audience: tokens.audience,
    redisUrl,
  }
  const targets = planTargets(opts, ctx)
  process.stdout.write(`${header(facts, opts, targets)}\n`)
  log(`starting ${targets.map((t) => t.name).join(', ')}…`)
  await startTargets(targets, ctx)

  const failures = []
  const warnings = []
  const base = targets.find((t) => t.name === 'baseline')
  if (base.failure) {
    throw new Exit(1, `bench: the baseline did not start: ${base.failure.join('\n')}`)
  }

  if (viaNginx) {
    const grafanaPort = ports.next().value
    const up = targets.filter((t) => !t.failure)
    for (const t of up) t.frontPort = ports.next().value
    const fronts = up.map((t) => ({ target: t, port: t.frontPort }))
    const { conf } = await startNginx({ nginx: tools.nginx, work: WORK, logs, grafanaPort, fronts })
    log(`nginx front up (${path.relative(ROOT, conf)})`)
  }

  const checks = await checkTargets(targets, { tokens, viaNginx, failures, warnings, record, log })
  if (base.failure) throw new Exit(1, 'bench: the baseline failed its checks; see above')
  const measured = targets.filter((t) => !t.failure)
  if (measured.length < 2) {
    const summary = summarize({
      ...opts,
      runs: [],
      memory: {},
      targets,
      checks,
      failures,
      warnings,
    })
    writeSummary(outDir, header(facts, opts, targets), summary)
    process.stdout.write(`${summary.markdown}\n`)
    throw new Exit(3, 'bench: no jwtgate target passed its checks; nothing to compare (see above)')
  }

  const { runs, memory } = await measure({
    opts,
    wrk: tools.wrk,
    targets: measured,
    files: tokens.files,
    record,
    log,
    failures,
  })
  const jwksStats = await fetch(`${issuer}/stats`)
    .then((r) => r.json())
    .catch(() => null)
  if (jwksStats) record({ type: 'jwks', ...jwksStats })

  const summary = summarize({
    ...opts,
    targets: measured,
    runs,
    memory,
    checks,
    failures,
    warnings,
  })
  writeSummary(outDir, header(facts, opts, measured), summary)
  process.stdout.write(`${summary.markdown}\n\nresults: ${path.relative(process.cwd(), outDir)}/\n`)

  return failures.length || !everyPairValid(opts.scenarios, measured, runs) ? 3 : 0
}

function everyPairValid(scenarios, targets, runs) {
  const valid = new Set(runs.filter((r) => r.valid).map((r) => `${r.scenario} ${r.target}`))
  return scenarios.every((s) => targets.every((t) => valid.has(`${s} ${t.name}`)))
}

function writeSummary(outDir, head, summary) {
  writeFileSync(path.join(outDir, 'summary.md'), `${head}\n${summary.markdown}\n`)
}

main().then(
  (code) => shutdown(code),
  (err) => {
    if (err instanceof Exit) shutdown(err.code, err.message)
    else shutdown(1, `bench: ${err.stack ?? err}`)
  },
)
