import * as v from 'valibot'

import { isIP } from 'node:net'

/**
 * The one schema of jwtgate's settings: types, checks and defaults. Every value arrives either
 * as an environment string or as a YAML/JSON value, so each field accepts both shapes and turns
 * them into one.
 */

export const ROLES = ['None', 'Viewer', 'Editor', 'Admin'] as const
export type Role = (typeof ROLES)[number]

/** Asymmetric JWS algorithms jose verifies; `none` and the HS family are never accepted. */
export const ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const

const REDIS_URL =
  'must be a redis://, rediss://, redis+sentinel://host:port,.../master or ' +
  'redis+cluster://host:port,... URL'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

function splitList(value: unknown): unknown {
  if (typeof value === 'string') {
    return value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '')
  }
  return value
}

function toInteger(value: unknown): number {
  if (typeof value === 'number') return value
  if (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)) return Number(value)
  return Number.NaN
}

function integer(min: number, max: number) {
  return v.pipe(
    v.unknown(),
    v.transform(toInteger),
    v.check(
      (n) => Number.isInteger(n) && n >= min && n <= max,
      `must be a whole number from ${min} to ${max}`,
    ),
  )
}

function toBoolean(value: unknown): unknown {
  if (typeof value !== 'string') return value
  const word = value.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(word)) return true
  if (['false', '0', 'no', 'off'].includes(word)) return false
  return value
}

function boolean() {
  return v.pipe(v.unknown(), v.transform(toBoolean), v.boolean('must be true or false'))
}

function text(what = 'must be a non-empty string') {
  return v.pipe(v.string(what), v.trim(), v.nonEmpty(what))
}

function stringList(what: string, item: (s: string) => boolean = () => true) {
  return v.pipe(
    v.unknown(),
    v.transform(splitList),
    v.array(v.string(what), what),
    v.check((items) => items.every(item), what),
  )
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === ''
  } catch {
    return false
  }
}

function httpUrl(what = 'must be an absolute http(s) URL without credentials') {
  return v.pipe(text(what), v.check(isHttpUrl, what))
}

function isCidr(value: string): boolean {
  const [address, prefix, ...rest] = value.split('/')
  if (address === undefined || rest.length > 0) return false
  const family = isIP(address)
  if (family === 0) return false
  if (prefix === undefined) return true
  const bits = toInteger(prefix)
  return Number.isInteger(bits) && bits >= 0 && bits <= (family === 4 ? 32 : 128)
}

function parseRoleMap(value: unknown): unknown {
  if (typeof value !== 'string') return value
  const map: Record<string, string> = {}
  for (const pair of splitList(value) as string[]) {
    const at = pair.lastIndexOf(':')
    map[at < 0 ? pair : pair.slice(0, at).trim()] = at < 0 ? '' : pair.slice(at + 1).trim()
  }
  return map
}

const role = v.picklist(ROLES, `must be one of ${ROLES.join(', ')}`)

const roleMap = v.pipe(
  v.unknown(),
  v.transform(parseRoleMap),
  v.record(
    v.pipe(v.string(), v.nonEmpty('has an empty group name')),
    v.picklist(ROLES, `maps a group to something other than ${ROLES.join(', ')}`),
    'must be a list of group:Role pairs',
  ),
)

function isRefusedAlgorithm(alg: string): boolean {
  return alg.toLowerCase() === 'none' || /^HS\d+$/i.test(alg)
}

const algorithms = v.pipe(
  stringList('must be a comma-separated list of JWS algorithm names'),
  v.check((list) => list.length > 0, 'must name at least one algorithm'),
  v.check(
    (list) => !list.some(isRefusedAlgorithm),
    'must not contain none or an HS algorithm: a shared secret or no signature lets ' +
      'anyone who knows it mint tokens',
  ),
  v.check(
    // Refused names have their own message above; this one covers everything else.
    (list) =>
      list.every(
        (alg) => isRefusedAlgorithm(alg) || (ALGORITHMS as readonly string[]).includes(alg),
      ),
    `may only contain ${ALGORITHMS.join(', ')}`,
  ),
)

const claimPath = v.pipe(
  v.unknown(),
  v.transform(splitList),
  v.array(text('must be a claim name or dotted path')),
  v.check((paths) => paths.length > 0, 'must name at least one claim'),
)

const claims = v.strictObject({
  user: v.optional(claimPath, ['preferred_username', 'sub']),
  email: v.optional(claimPath, ['email']),
  name: v.optional(claimPath, ['name']),
  groups: v.optional(claimPath, ['groups']),
})

/** One trusted issuer from the config file's `issuers` list. */
const issuerEntry = v.strictObject({
  issuer: text('must be the exact iss value of the tokens, e.g. https://idp.example.com'),
  jwksUrl: v.pipe(
    stringList('must be one or more http(s) JWKS URLs', isHttpUrl),
    v.check((list) => list.length > 0, 'must name at least one JWKS URL'),
  ),
  audience: v.optional(stringList('must be a list of audience values')),
  algorithms: v.optional(algorithms),
  claims: v.optional(claims),
  roleMap: v.optional(roleMap),
  defaultRole: v.optional(role),
})

const selfIssuer = v.strictObject({
  enabled: v.optional(boolean(), true),
  issuer: v.optional(httpUrl()),
})

/** The whole settings object, as the config file spells it; env variables map onto it. */
export const settingsSchema = v.strictObject({
  port: v.optional(integer(0, 65535), 8080),
  host: v.optional(text(), '0.0.0.0'),
  jwksUrl: v.optional(stringList('must be one or more http(s) JWKS URLs', isHttpUrl), []),
  issuer: v.optional(
    text('must be the iss value, e.g. https://auth.example.com'),
    'http://localhost:8080',
  ),
  audience: v.optional(
    v.pipe(
      stringList('must be a list of audience values'),
      v.check((list) => list.length > 0, 'must name at least one audience'),
    ),
    ['grafana'],
  ),
  redisUrl: v.optional(
    v.pipe(
      text(REDIS_URL),
      v.check((s) => /^(rediss?|redis\+sentinel|redis\+cluster):\/\/./.test(s), REDIS_URL),
    ),
  ),
  dataDir: v.optional(text(), './data'),
  logLevel: v.optional(v.picklist(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(', ')}`), 'info'),
  algorithms: v.optional(algorithms, ['RS256']),
  clockTolerance: v.optional(integer(0, 600), 30),
  jwksMaxAge: v.optional(integer(1, 7 * 86400), 600),
  jwksCooldown: v.optional(integer(1, 3600), 30),
  jwksMaxStale: v.optional(integer(0, 30 * 86400), 21600),
  jwksTimeout: v.optional(integer(1, 60), 5),
  roleMap: v.optional(roleMap, {}),
  defaultRole: v.optional(role, 'Viewer'),
  claims: v.optional(claims, {}),
  cookieName: v.optional(
    v.pipe(
      text(),
      v.regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a cookie name (letters, digits, -_.)'),
    ),
    'jwtgate',
  ),
  cookieSecure: v.optional(boolean(), true),
  cookieDomain: v.optional(
    v.pipe(
      text(),
      v.regex(/^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, 'must be a domain such as example.com'),
    ),
  ),
  redirectHosts: v.optional(
    stringList('must be a list of host names, or *.domain for its subdomains', (host) =>
      /^(\*\.)?[A-Za-z0-9.-]+(:\d+)?$/.test(host),
    ),
    [],
  ),
  headerEncoding: v.optional(
    v.picklist(['quoted-printable', 'none'], 'must be quoted-printable or none'),
    'quoted-printable',
  ),
  publicUrl: v.optional(httpUrl()),
  trustedProxies: v.optional(
    stringList('must be a list of CIDRs such as 10.0.0.0/8 or ::1/128', isCidr),
    ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  ),
  denylistMaxStale: v.optional(integer(0, 30 * 86400), 300),
  maxTokenLifetime: v.optional(integer(60, 366 * 86400), 7 * 86400),
  accessTtl: v.optional(integer(5, 86400), 900),
  refreshTtl: v.optional(integer(60, 90 * 86400), 86400),
  sessionMaxAge: v.optional(integer(300, 366 * 86400), 7 * 86400),
  verifyCacheSize: v.optional(integer(0, 10_000_000), 100_000),
  issuers: v.optional(v.array(issuerEntry, 'must be a list of issuer entries'), []),
  self: v.optional(selfIssuer),
})

export type Settings = v.InferOutput<typeof settingsSchema>
export type ClaimPaths = v.InferOutput<typeof claims>

/** Environment variable for each top-level setting. Nested settings exist only in the file. */
export const ENV_NAMES = {
  port: 'JWTGATE_PORT',
  host: 'JWTGATE_HOST',
  jwksUrl: 'JWTGATE_JWKS_URL',
  issuer: 'JWTGATE_ISSUER',
  audience: 'JWTGATE_AUDIENCE',
  redisUrl: 'JWTGATE_REDIS_URL',
  dataDir: 'JWTGATE_DATA_DIR',
  logLevel: 'JWTGATE_LOG_LEVEL',
  algorithms: 'JWTGATE_ALGORITHMS',
  clockTolerance: 'JWTGATE_CLOCK_TOLERANCE',
  jwksMaxAge: 'JWTGATE_JWKS_MAX_AGE',
  jwksCooldown: 'JWTGATE_JWKS_COOLDOWN',
  jwksMaxStale: 'JWTGATE_JWKS_MAX_STALE',
  jwksTimeout: 'JWTGATE_JWKS_TIMEOUT',
  roleMap: 'JWTGATE_ROLE_MAP',
  defaultRole: 'JWTGATE_DEFAULT_ROLE',
  cookieName: 'JWTGATE_COOKIE_NAME',
  cookieSecure: 'JWTGATE_COOKIE_SECURE',
  cookieDomain: 'JWTGATE_COOKIE_DOMAIN',
  redirectHosts: 'JWTGATE_REDIRECT_HOSTS',
  headerEncoding: 'JWTGATE_HEADER_ENCODING',
  publicUrl: 'JWTGATE_PUBLIC_URL',
  trustedProxies: 'JWTGATE_TRUSTED_PROXIES',
  denylistMaxStale: 'JWTGATE_DENYLIST_MAX_STALE',
  maxTokenLifetime: 'JWTGATE_MAX_TOKEN_LIFETIME',
  accessTtl: 'JWTGATE_ACCESS_TTL',
  refreshTtl: 'JWTGATE_REFRESH_TTL',
  sessionMaxAge: 'JWTGATE_SESSION_MAX_AGE',
  verifyCacheSize: 'JWTGATE_VERIFY_CACHE_SIZE',
} as const satisfies Partial<Record<keyof Settings, string>>

/** Claim paths settable one by one from the environment. */
export const CLAIM_ENV_NAMES = {
  user: 'JWTGATE_CLAIM_USER',
  email: 'JWTGATE_CLAIM_EMAIL',
  name: 'JWTGATE_CLAIM_NAME',
  groups: 'JWTGATE_CLAIM_GROUPS',
} as const

/** A valid value for each setting, quoted in error messages. */
export const EXAMPLES: Record<string, string> = {
  port: '8080',
  host: '0.0.0.0',
  jwksUrl: 'https://idp.example.com/.well-known/jwks.json',
  issuer: 'https://idp.example.com',
  audience: 'grafana',
  redisUrl: 'redis://redis.internal:6379/0',
  dataDir: '/var/lib/jwtgate',
  logLevel: 'info',
  algorithms: 'RS256,ES256',
  clockTolerance: '30',
  jwksMaxAge: '600',
  jwksCooldown: '30',
  jwksMaxStale: '21600',
  jwksTimeout: '5',
  roleMap: 'grafana-admins:Admin,grafana-editors:Editor',
  defaultRole: 'Viewer',
  cookieName: 'jwtgate',
  cookieSecure: 'true',
  cookieDomain: 'example.com',
  redirectHosts: 'grafana.example.com,dashboards.example.com',
  headerEncoding: 'quoted-printable',
  publicUrl: 'https://auth.example.com',
  trustedProxies: '127.0.0.0/8,10.0.0.0/8',
  denylistMaxStale: '300',
  maxTokenLifetime: '604800',
  accessTtl: '900',
  refreshTtl: '86400',
  sessionMaxAge: '604800',
  verifyCacheSize: '100000',
  claims: 'claims: { groups: realm_access.roles }',
  user: 'preferred_username,sub',
  email: 'email',
  name: 'name',
  groups: 'realm_access.roles',
  issuers: 'issuers: [{ issuer: https://idp.example.com, jwksUrl: https://idp.example.com/jwks }]',
  enabled: 'true',
  self: 'self: { enabled: true, issuer: https://auth.example.com }',
}
