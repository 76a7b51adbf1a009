import { join } from 'node:path'

import { createDenylist, createRedisClient } from '../denylist/index.js'
import { mapIdentity } from '../headers/index.js'
import { createHashLimiter, verifyPassword, verifyUnknownUser } from '../issuer/passwords.js'
import { MemoryFailureLimiter, RedisFailureLimiter } from '../issuer/rate-limit.js'
import { RedisRefreshStore } from '../issuer/redis-refresh-store.js'
import { MemoryRefreshStore } from '../issuer/refresh-store.js'
import { createAccessRevoker } from '../issuer/revocation.js'
import { createTokenService } from '../issuer/token-service.js'
import { USERS_FILE, UserStore } from '../issuer/users.js'
import { OwnKeys, RemoteJWKS, scheduleFor } from '../keys/index.js'
import { addGauge } from '../obs/metrics.js'
import { VerificationCache, verifyToken } from '../verify/index.js'
import { createApp } from './create-app.js'
import { createTrustedProxies } from './forwarded.js'
import type { IssuerRouteDeps } from './issuer-routes.js'
import type { Config } from '../config/index.js'
import type { Denylist } from '../denylist/index.js'
import type { AccessRevoker } from '../issuer/revocation.js'
import type { KeySource } from '../keys/index.js'
import type { Logger } from '../obs/logger.js'
import type { Metrics } from '../obs/metrics.js'
import type { TrustedIssuer } from '../verify/index.js'

export interface GateOptions {
  config: Config
  logger: Logger
  metrics: Metrics
  /** Replaces the in-memory denylist (Redis, or a test double). */
  denylist?: Denylist
}

export interface Gate {
  app: ReturnType<typeof createApp>
  cache: VerificationCache
  denylist: Denylist
  /** The gate's own keys, when its issuer is on. */
  ownKeys: OwnKeys | undefined
  /** Resolves once every remote JWKS has had its first fetch, whatever the outcome. */
  firstFetch: Promise<void>
  startDraining(): void
  close(): Promise<void>
}

/**
 * Builds a gate from its configuration: the key source of every trusted issuer, the
 * verification cache, the denylist, metrics and the HTTP app. Starts the first JWKS fetches
 * without waiting for them; `/readyz` reports when keys are usable.
 */
export async function createGate({
  config,
  logger,
  metrics,
  ...options
}: GateOptions): Promise<Gate> {
  const log = logger.child({ module: 'gate' })
  const ownKeys =
    config.selfIssuer === undefined
      ? undefined
      : await OwnKeys.open({
          issuer: config.selfIssuer,
          dataDir: config.dataDir,
          schedule: scheduleFor(config),
          logger: logger.child({ module: 'keys' }),
        })
  const issuers = createIssuers(config, ownKeys, logger, metrics)
  const sources = [...issuers.values()].map((issuer) => issuer.keys)

  const cache = new VerificationCache({
    maxEntries: config.verifyCacheSize,
    clockTolerance: config.clockTolerance,
    onLookup: (result) => metrics.verifyCache.labels(result).inc(),
    compute: async (token) => {
      const verified = await verifyToken(token, {
        issuers,
        clockTolerance: config.clockTolerance,
        maxTokenLifetime: config.maxTokenLifetime,
      })
      const identity = mapIdentity(verified.payload, verified.issuer.policy, config.headerEncoding)
      if (identity.omittedGroups > 0) {
        log.warn(
          { sub: verified.sub, omitted: identity.omittedGroups },
          'groups with a comma left out of X-WEBAUTH-GROUPS',
        )
      }
      return { token: verified, identity }
    },
  })
  for (const source of sources) {
    source.onRemoved((ids) => cache.evictKeys(source, ids))
  }

  const denylist = options.denylist ?? (await createDenylist(config, logger))
  await denylist.start()
  registerGauges(metrics, sources, cache, denylist)

  const trustedProxies = createTrustedProxies(config.trustedProxies)
  const revokeAccess = createAccessRevoker({
    verifyAccess: async (token) => (await cache.resolve(token)).token,
    denylist,
    audit: logger.child({ module: 'revocation' }),
  })
  const issuer =
    ownKeys &&
    (await createIssuer(config, ownKeys, { denylist, revokeAccess, logger, trustedProxies }))
  const revoke = issuer
    ? issuer.tokens.revoke
    : async (token: string, actor: string) => void (await revokeAccess(token, actor))
  const session = issuer && {
    publicUrl: config.publicUrl,
    tokens: issuer.tokens,
    cookie: {
      name: config.cookieName,
      secure: config.cookieSecure,
      domain: config.cookieDomain,
      maxAge: config.refreshTtl,
    },
    // Renewing in the last third of a token's life keeps an active tab signed in without
    // renewing on every request.
    renewBelow: Math.floor(config.accessTtl / 3),
  }

  let draining = false
  const app = createApp({
    cache,
    denylist,
    issuer,
    session,
    revoke,
    redirectHosts: config.redirectHosts,
    cookieName: config.cookieName,
    trustedProxies,
    logger: logger.child({ module: 'auth' }),
    metrics,
    readiness: {
      draining: () => draining,
      check(now) {
        const states = sources.map((source) => source.status(now))
        const denied = denylist.status(now)
        return {
          ready: states.every((s) => s.ready) && denied.fresh,
          issuers: states,
          denylist: denied,
        }
      },
    },
  })

  const firstFetch = Promise.all(
    sources.map((source) => (source instanceof RemoteJWKS ? source.start() : undefined)),
  ).then(() => undefined)

  return {
    app,
    cache,
    denylist,
    ownKeys,
    firstFetch,
    startDraining: () => {
      draining = true
    },
    close: async () => {
      for (const source of sources) source.close()
      await issuer?.close()
      await denylist.close()
    },
  }
}

function createIssuers(
  config: Config,
  ownKeys: OwnKeys | undefined,
  logger: Logger,
  metrics: Metrics,
): Map<string, TrustedIssuer> {
  const issuers = new Map<string, TrustedIssuer>()
  for (const policy of config.issuers) {
    const keys: KeySource =
      policy.source === 'self' && ownKeys
        ? ownKeys
        : new RemoteJWKS({
            issuer: policy.issuer,
            urls: policy.jwksUrls,
            algorithms: policy.algorithms,
            maxAge: config.jwksMaxAge,
            cooldown: config.jwksCooldown,
            maxStale: config.jwksMaxStale,
            timeout: config.jwksTimeout,
            logger: logger.child({ module: 'keys' }),
            onFetch: (outcome) => metrics.jwksFetches.labels(policy.issuer, outcome).inc(),
          })
    issuers.set(policy.issuer, { policy, keys })
  }
  return issuers
}

interface IssuerParts {
  denylist: Denylist
  revokeAccess: AccessRevoker
  logger: Logger
  trustedProxies: IssuerRouteDeps['trustedProxies']
}

/** The gate's own issuer: users, refresh tokens, failure limits and the token service. */
async function createIssuer(
  config: Config,
  ownKeys: OwnKeys,
  { denylist, revokeAccess, logger, trustedProxies }: IssuerParts,
): Promise<IssuerRouteDeps & { close(): Promise<void> }> {
  const audit = logger.child({ module: 'issuer' })
  const users = UserStore.open(join(config.dataDir, USERS_FILE), audit)
  const redis = config.redisUrl
  const refresh = redis
    ? new RedisRefreshStore(await createRedisClient(redis))
    : new MemoryRefreshStore()
  const failures = redis
    ? new RedisFailureLimiter(await createRedisClient(redis))
    : new MemoryFailureLimiter()

  const tokens = createTokenService({
    issuer: ownKeys.issuer,
    audience: config.audience[0] ?? 'grafana',
    accessTtl: config.accessTtl,
    refreshTtl: config.refreshTtl,
    sessionMaxAge: config.sessionMaxAge,
    signer: () => ownKeys.signer(),
    users,
    refresh,
    failures,
    denylist,
    hashes: createHashLimiter(),
    passwords: { verify: verifyPassword, verifyUnknownUser },
    revokeAccess,
    audit,
  })
  return {
    issuer: ownKeys.issuer,
    publicUrl: config.publicUrl,
    tokens,
    keys: ownKeys,
    trustedProxies,
    logger: audit,
    close: async () => {
      users.close()
      await Promise.all([refresh.close(), failures.close()])
    },
  }
}

function registerGauges(
  metrics: Metrics,
  sources: KeySource[],
  cache: VerificationCache,
  denylist: Denylist,
): void {
  addGauge(metrics, 'jwtgate_verify_cache_entries', 'Verified tokens in the cache.', [], (set) =>
    set({}, cache.size),
  )
  const perIssuer =
    (read: (s: ReturnType<KeySource['status']>) => number) =>
    (set: (l: Record<string, string>, v: number) => void) => {
      const now = Date.now()
      for (const source of sources) {
        const status = source.status(now)
        set({ issuer: status.issuer }, read(status))
      }
    }
  addGauge(
    metrics,
    'jwtgate_jwks_age_seconds',
    "Seconds since the issuer's keys were loaded (-1: never).",
    ['issuer'],
    perIssuer((s) => s.ageSeconds),
  )
  addGauge(
    metrics,
    'jwtgate_jwks_keys',
    "Usable keys in the issuer's set.",
    ['issuer'],
    perIssuer((s) => s.keys),
  )
  addGauge(
    metrics,
    'jwtgate_jwks_usable',
    "1 when the issuer's keys may be used, 0 when stale or missing.",
    ['issuer'],
    perIssuer((s) => (s.ready ? 1 : 0)),
  )
  addGauge(
    metrics,
    'jwtgate_denylist_entries',
    'Live revocation entries in the local copy.',
    [],
    (set) => set({}, denylist.status(Date.now()).entries),
  )
  addGauge(
    metrics,
    'jwtgate_denylist_connected',
    '1 while the shared denylist store (Redis) is reachable; always 1 in memory.',
    [],
    (set) => set({}, denylist.status(Date.now()).connected ? 1 : 0),
  )
  addGauge(
    metrics,
    'jwtgate_denylist_fresh',
    '1 while the local denylist copy is fresh enough to decide on.',
    [],
    (set) => set({}, denylist.status(Date.now()).fresh ? 1 : 0),
  )
}
