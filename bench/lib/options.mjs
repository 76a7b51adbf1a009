// Command-line options of `npm run bench`. Parsing only: no side effects, so run.mjs can fail
// fast on a typo before it starts any process.
import { parseArgs } from 'node:util'

export const SCENARIOS = ['hot-direct', 'cold-direct', 'hot-via-nginx', 'cold-via-nginx']

const DEFAULTS = { duration: 8, reps: 3, coldTokens: 20000, warmup: 2 }
// --quick: a smoke run that still exercises every path (under a minute for two targets).
const QUICK = { duration: 3, reps: 1, coldTokens: 2000, warmup: 1 }

export const HELP = `Usage: npm run bench -- [options]

Measures jwtgate against a bare hono handler (baseline) in the same run and reports ratios.

  --quick                 smoke run: ${QUICK.duration} s, ${QUICK.reps} rep, ${QUICK.coldTokens} cold tokens
  --duration S            seconds per measured wrk run (default ${DEFAULTS.duration})
  --reps N                measured runs per target and scenario (default ${DEFAULTS.reps})
  --warmup S              seconds of the unrecorded warm-up run (default ${DEFAULTS.warmup})
  --scenarios a,b         subset of: ${SCENARIOS.join(', ')}
  --cold-tokens N         distinct tokens in the cold rotation (default ${DEFAULTS.coldTokens})
  --connections N         wrk connections (default 32)
  --variant NAME:K=V[,K=V]
                          another jwtgate process with extra env (repeatable); {redis} in a value
                          is replaced by the URL of the Redis started by --redis
  --redis                 start a throwaway redis-server; adds variant "redis"
                          (JWTGATE_REDIS_URL={redis}) unless a --variant already uses {redis}
  --help                  this text

Needs wrk and nginx (Debian: apt-get install -y wrk nginx), redis-server for --redis.
Results: bench/results/<UTC time>/summary.md and raw.jsonl.`

// Variant env is "K=V,K=V", but values may hold commas themselves (JWTGATE_JWKS_URL,
// JWTGATE_ROLE_MAP), so split only where a comma starts a new NAME=.
export function parseVariant(spec) {
  const m = /^([A-Za-z0-9_.-]+):(.+)$/.exec(spec)
  if (!m) throw new Error(`--variant ${spec}: expected NAME:K=V[,K=V], e.g. cache0:K=V`)
  const [, name, rest] = m
  const env = {}
  for (const pair of rest.split(/,(?=[A-Za-z_][A-Za-z0-9_]*=)/)) {
    const eq = pair.indexOf('=')
    if (eq < 1) throw new Error(`--variant ${spec}: "${pair}" is not K=V`)
    env[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return { name, env }
}

function positiveInteger(flag, value) {
  const n = Number(value)
  if (Number.isInteger(n) && n > 0) return n
  throw new Error(`${flag} ${value}: expected a positive integer`)
}

export function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      reps: { type: 'string' },
      warmup: { type: 'string' },
      scenarios: { type: 'string' },
      'cold-tokens': { type: 'string' },
      connections: { type: 'string' },
      variant: { type: 'string', multiple: true, default: [] },
      redis: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      // Not in --help: runs this command in the jwtgate slot (same JWTGATE_* env, no build),
      // to develop the harness against a stand-in before the gate exists.
      'gate-cmd': { type: 'string' },
    },
  })
  const base = values.quick ? QUICK : DEFAULTS
  const int = (flag, fallback) => {
    const value = values[flag]
    return value === undefined ? fallback : positiveInteger(`--${flag}`, value)
  }
  const opts = {
    help: values.help,
    quick: values.quick,
    duration: int('duration', base.duration),
    reps: int('reps', base.reps),
    warmup: int('warmup', base.warmup),
    coldTokens: int('cold-tokens', base.coldTokens),
    connections: int('connections', 32),
    scenarios: SCENARIOS,
    variants: values.variant.map(parseVariant),
    redis: values.redis,
    gateCmd: values['gate-cmd'] ?? null,
  }
  if (values.scenarios) {
    opts.scenarios = values.scenarios.split(',').map((s) => s.trim())
    const unknown = opts.scenarios.filter((s) => !SCENARIOS.includes(s))
    if (unknown.length) {
      throw new Error(`--scenarios: unknown ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`)
    }
  }
  checkVariants(opts)
  return opts
}

// Variant names label table rows and data dirs, so they must be unique; {redis} needs --redis,
// and --redis alone means "also measure the gate with Redis".
function checkVariants(opts) {
  const names = new Set(['baseline', 'jwtgate'])
  for (const v of opts.variants) {
    if (names.has(v.name)) throw new Error(`--variant ${v.name}: name already taken`)
    names.add(v.name)
  }
  const values = opts.variants.flatMap((v) => Object.values(v.env))
  const usesRedis = values.some((x) => x.includes('{redis}'))
  if (usesRedis && !opts.redis) throw new Error('a --variant uses {redis}: add --redis')
  if (opts.redis && !usesRedis) {
    if (names.has('redis')) throw new Error('--redis: variant "redis" does not use {redis}')
    opts.variants.push({ name: 'redis', env: { JWTGATE_REDIS_URL: '{redis}' } })
  }
}
