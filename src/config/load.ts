import * as v from 'valibot'
import { parse as parseYaml } from 'yaml'

import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'

import { CLAIM_ENV_NAMES, ENV_NAMES, EXAMPLES, settingsSchema } from './schema.js'
import type { ClaimPaths, Role, Settings } from './schema.js'

/** How the gate trusts one issuer: its keys, audience, algorithms and claim mapping. */
export interface IssuerPolicy {
  readonly issuer: string
  /** `jwks`: keys fetched from `jwksUrls`; `self`: the gate's own signing keys. */
  readonly source: 'jwks' | 'self'
  readonly jwksUrls: readonly string[]
  readonly audience: readonly string[]
  readonly algorithms: readonly string[]
  readonly claims: Readonly<ClaimPaths>
  readonly roleMap: ReadonlyMap<string, Role>
  readonly defaultRole: Role
}

/** The validated, frozen configuration handed to every part of the gate. */
export interface Config extends Omit<Settings, 'issuers' | 'self' | 'publicUrl'> {
  readonly publicUrl: string
  readonly issuers: readonly IssuerPolicy[]
  /** `iss` of the tokens this gate signs, or undefined when its own issuer is off. */
  readonly selfIssuer: string | undefined
  readonly configFile: string | undefined
}

/** Start-up configuration problems, one line each, naming the variable or file key. */
export class ConfigError extends Error {
  readonly problems: readonly string[]

  constructor(problems: string[]) {
    super(problems.join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
  }
}

type Source = { kind: 'env'; name: string } | { kind: 'file'; file: string }

interface Loaded {
  config: Config
  /** Risky-but-allowed settings, each worth one warn line at start-up. */
  warnings: string[]
}

const ENV_BY_NAME = new Map<string, keyof typeof ENV_NAMES>(
  Object.entries(ENV_NAMES).map(([key, name]) => [name, key as keyof typeof ENV_NAMES]),
)
const CLAIM_BY_NAME = new Map<string, keyof typeof CLAIM_ENV_NAMES>(
  Object.entries(CLAIM_ENV_NAMES).map(([key, name]) => [name, key as keyof ClaimPaths]),
)
const KNOWN_NAMES = ['JWTGATE_CONFIG', ...ENV_BY_NAME.keys(), ...CLAIM_BY_NAME.keys()]

/**
 * Reads the optional config file and the `JWTGATE_*` environment, validates everything at once
 * and resolves the trusted issuers. Throws ConfigError listing every problem.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Loaded {
  const problems: string[] = []
  const configFile = env.JWTGATE_CONFIG ? resolve(env.JWTGATE_CONFIG) : undefined
  const raw: Record<string, unknown> = configFile ? readConfigFile(configFile, problems) : {}
  const sources = new Map<string, Source>()
  for (const key of Object.keys(raw)) sources.set(key, { kind: 'file', file: configFile ?? '' })

  applyEnv(env, raw, sources, problems)

  const parsed = v.safeParse(settingsSchema, raw, { abortEarly: false })
  if (!parsed.success) {
    for (const issue of parsed.issues) problems.push(describeIssue(issue, raw, sources))
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems)

  const warnings: string[] = []
  const config = resolveConfig(parsed.output, configFile, problems, warnings)
  if (problems.length > 0) throw new ConfigError(problems)
  return { config: deepFreeze(config), warnings }
}

function readConfigFile(file: string, problems: string[]): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable'
    problems.push(`JWTGATE_CONFIG: cannot read "${file}" (${reason}); example: /etc/jwtgate.yaml`)
    return {}
  }

  try {
    // YAML 1.2 is a superset of JSON, so one parser serves both; it refuses duplicate keys.
    const value: unknown = parseYaml(text)
    if (value === null || value === undefined) return {}
    if (typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>
    problems.push(`${file}: must hold a mapping of settings; example: port: 8080`)
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0]
    problems.push(`${file}: is not valid YAML or JSON (${reason})`)
  }
  return {}
}

function applyEnv(
  env: NodeJS.ProcessEnv,
  raw: Record<string, unknown>,
  sources: Map<string, Source>,
  problems: string[],
): void {
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('JWTGATE_') || name === 'JWTGATE_CONFIG') continue

    // An empty variable means "not set": compose files and Helm charts often pass blanks.
    if (value === undefined || value === '') continue

    const key = ENV_BY_NAME.get(name)
    if (key) {
      raw[key] = value
      sources.set(key, { kind: 'env', name })
      continue
    }
    const claim = CLAIM_BY_NAME.get(name)
    if (claim) {
      const claims = (typeof raw.claims === 'object' && raw.claims) || {}
      raw.claims = { ...claims, [claim]: value }
      sources.set(`claims.${claim}`, { kind: 'env', name })
      continue
    }

    // A typo in an auth setting is a silent hole, so an unknown name stops the start.
    const hint = closest(name, KNOWN_NAMES)
    problems.push(`${name}: is not a jwtgate setting${hint ? `; did you mean ${hint}?` : ''}`)
  }
}

function describeIssue(
  issue: v.BaseIssue<unknown>,
  raw: Record<string, unknown>,
  sources: Map<string, Source>,
): string {
  const keys = (issue.path ?? []).map((item) => item.key as string | number)
  const top = String(keys[0] ?? '')
  const source = sources.get(keys.slice(0, 2).join('.')) ?? sources.get(top)
  const last = String([...keys].reverse().find((k) => typeof k === 'string') ?? top)
  const example = EXAMPLES[last]
  const unknownKey = issue.type === 'strict_object' || issue.expected === 'never'
  const message = unknownKey ? 'is not a jwtgate setting' : issue.message
  const got = unknownKey ? '' : `; got ${showValue(top, valueAt(raw, keys))}`

  if (source?.kind === 'env') {
    const hint = example ? `; example: ${source.name}=${example}` : ''
    return `${source.name}: ${message}${got}${hint}`
  }
  const where = keys.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('')
  const file = source?.kind === 'file' ? source.file : 'config'
  const hint = example ? `; example: ${last}: ${example}` : ''
  return `${file}: ${where.slice(1)} ${message}${got}${hint}`
}

function valueAt(raw: unknown, keys: (string | number)[]): unknown {
  let value = raw
  for (const key of keys) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<string | number, unknown>)[key]
  }
  return value
}

function showValue(key: string, value: unknown): string {
  if (value === undefined) return 'nothing'

  // A Redis URL may carry a password: show its shape, never the secret.
  if (key === 'redisUrl') return `a value of ${String(value).length} characters`
  const shown = typeof value === 'string' ? value : JSON.stringify(value)
  return JSON.stringify(shown.length > 80 ? `${shown.slice(0, 77)}...` : shown)
}

function resolveConfig(
  s: Settings,
  configFile: string | undefined,
  problems: string[],
  warnings: string[],
): Config {
  const defaults = {
    audience: s.audience,
    algorithms: s.algorithms,
    claims: { ...s.claims } as ClaimPaths,
    roleMap: new Map(Object.entries(s.roleMap)) as Map<string, Role>,
    defaultRole: s.defaultRole,
  }
  const issuers: IssuerPolicy[] = []
  if (s.jwksUrl.length > 0) {
    issuers.push({ ...defaults, issuer: s.issuer, source: 'jwks', jwksUrls: s.jwksUrl })
  }
  for (const entry of s.issuers) {
    issuers.push({
      issuer: entry.issuer,
      source: 'jwks',
      jwksUrls: entry.jwksUrl,
      audience: entry.audience ?? defaults.audience,
      algorithms: entry.algorithms ?? defaults.algorithms,
      claims: { ...defaults.claims, ...entry.claims },
      roleMap: entry.roleMap ? new Map(Object.entries(entry.roleMap)) : defaults.roleMap,
      defaultRole: entry.defaultRole ?? defaults.defaultRole,
    })
  }

  const selfIssuer = resolveSelfIssuer(s, issuers.length === 0, problems)
  if (selfIssuer !== undefined) {
    issuers.push({ ...defaults, issuer: selfIssuer, source: 'self', jwksUrls: [] })
  }

  checkIssuers(issuers, problems, warnings)
  const { issuers: _list, self: _self, ...rest } = s
  return {
    ...rest,
    publicUrl: (s.publicUrl ?? s.issuer).replace(/\/+$/, ''),
    issuers,
    selfIssuer,
    configFile,
  }
}

function resolveSelfIssuer(s: Settings, standalone: boolean, problems: string[]) {
  if (standalone) {
    if (s.self?.enabled === false) {
      problems.push(
        'self.enabled: is false but no JWKS is configured, so no token could ever be trusted; ' +
          'example: JWTGATE_JWKS_URL=https://idp.example.com/.well-known/jwks.json',
      )
    }
    return s.self?.issuer ?? s.issuer
  }
  if (!s.self?.enabled) return undefined
  if (s.self.issuer === undefined || s.self.issuer === s.issuer) {
    problems.push(
      "self.issuer: must name the gate's own issuer, distinct from JWTGATE_ISSUER, when a " +
        'JWKS is also trusted; example: issuer: https://auth.example.com',
    )
  }
  return s.self.issuer
}

function checkIssuers(issuers: IssuerPolicy[], problems: string[], warnings: string[]): void {
  const seen = new Set<string>()
  for (const policy of issuers) {
    if (seen.has(policy.issuer)) {
      problems.push(
        `issuers: "${policy.issuer}" is configured twice; each issuer needs one entry ` +
          '(merge their jwksUrl lists)',
      )
    }
    seen.add(policy.issuer)
    for (const url of policy.jwksUrls) {
      const { protocol, hostname } = new URL(url)
      if (protocol === 'http:' && !isLoopbackHost(hostname)) {
        warnings.push(`JWKS URL ${url} uses plain http: anyone on the path can swap the keys`)
      }
    }
  }
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname)
}

function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 4
  for (const candidate of candidates) {
    const d = editDistance(name, candidate)
    if (d < bestDistance) [best, bestDistance] = [candidate, d]
  }
  return best
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + cost)
    }
    row = next
  }
  return row[b.length]!
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
