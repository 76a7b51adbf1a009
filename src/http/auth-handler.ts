import { performance } from 'node:perf_hooks'

import { ERRORS, GateError } from '../errors.js'
import { IDENTITY_HEADERS } from '../headers/index.js'
import {
  VerificationCache,
  checkPolicy,
  extractToken,
  parseLocationPolicy,
} from '../verify/index.js'
import { isTrustedPeer, originalRequest } from './forwarded.js'
import type { Denylist } from '../denylist/index.js'
import type { Logger } from '../obs/logger.js'
import type { Metrics } from '../obs/metrics.js'
import type { Identity } from '../headers/index.js'
import type { Verification } from '../verify/index.js'
import type { Context } from 'hono'
import type { HttpBindings } from '@hono/node-server'
import type { IncomingMessage } from 'node:http'
import type { BlockList } from 'node:net'

export type AuthEndpoint = 'auth' | 'forward-auth'

export interface AuthDeps {
  cache: VerificationCache
  denylist: Denylist
  cookieName: string
  trustedProxies: BlockList
  logger: Logger
  metrics: Metrics
  now?: () => number
}

type GateContext = Context<{ Bindings: HttpBindings }>

/** The header value a 401 carries when no token was presented (RFC 6750 §3.1). */
const CHALLENGE = 'Bearer realm="jwtgate"'

/**
 * The decision pipeline behind `/auth` and `/forward-auth`: extract the token, verify it (or
 * find it verified), check revocation, apply the location's policy, answer. Every answer has an
 * empty, fixed-length body: nginx cannot keep its upstream connection after a chunked one.
 */
export function createAuthHandler(endpoint: AuthEndpoint, deps: AuthDeps) {
  const { cache, denylist, metrics } = deps
  const now = deps.now ?? Date.now
  const allowed = metrics.decisions.labels(endpoint, 'OK')
  const duration = metrics.duration.labels(endpoint)

  const decide = (incoming: IncomingMessage, verification: Verification, started: number) => {
    try {
      const at = now()
      if (!denylist.fresh(at)) {
        throw new GateError('ERR_DENYLIST_STALE', 'denylist copy is too old to decide on')
      }
      if (denylist.isRevoked(verification.token, at)) {
        throw new GateError('ERR_TOKEN_REVOKED', 'token or its subject was revoked')
      }
      checkPolicy(parseLocationPolicy(incoming.url ?? ''), verification.identity)
    } catch (err) {
      return deny(incoming, endpoint, deps, toGateError(err), verification, started)
    }

    const elapsed = (performance.now() - started) / 1000
    allowed.inc()
    duration.observe(elapsed)
    if (deps.logger.isLevelEnabled('debug')) {
      logDecision(deps, endpoint, incoming, undefined, verification, elapsed)
    }
    return allow(verification.identity.values)
  }

  // A cached token is answered synchronously, which lets node-server write the response
  // without a promise round; only a first sight of a token waits for verification.
  return (c: GateContext): Response | Promise<Response> => {
    const started = performance.now()
    const incoming = c.env.incoming
    let key: string
    let token: string
    let verification: Verification | undefined
    try {
      token = extractToken(credentials(incoming), deps.cookieName).token
      key = VerificationCache.keyOf(token)
      verification = cache.lookup(key)
    } catch (err) {
      return deny(incoming, endpoint, deps, toGateError(err), undefined, started)
    }
    if (verification) return decide(incoming, verification, started)

    return cache.verify(key, token).then(
      (verified) => decide(incoming, verified, started),
      (err: unknown) => deny(incoming, endpoint, deps, toGateError(err), undefined, started),
    )
  }
}

/**
 * A 200 with the five identity headers. The headers go as a plain object: node-server then
 * writes them straight to the socket instead of building a Fetch `Headers` per answer.
 */
function allow(values: Identity['values']): Response {
  return new Response(null, {
    status: 200,
    headers: {
      [IDENTITY_HEADERS[0]]: values[0],
      [IDENTITY_HEADERS[1]]: values[1],
      [IDENTITY_HEADERS[2]]: values[2],
      [IDENTITY_HEADERS[3]]: values[3],
      [IDENTITY_HEADERS[4]]: values[4],
      'Cache-Control': 'no-store',
      'Content-Length': '0',
    },
  })
}

function credentials(incoming: IncomingMessage) {
  const authorization = incoming.headers.authorization
  let authorizationCount = 0
  if (authorization !== undefined) {
    // Node keeps only the first Authorization header; a second one must not go unseen.
    const raw = incoming.rawHeaders
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === 'authorization') authorizationCount++
    }
  }
  return { authorization, cookie: incoming.headers.cookie, authorizationCount }
}

/** An unexpected error still ends in a refusal: the auth path fails closed. */
function toGateError(err: unknown): GateError {
  if (err instanceof GateError) return err
  return new GateError('ERR_INTERNAL', 'unexpected error', { cause: err })
}

function deny(
  incoming: IncomingMessage,
  endpoint: AuthEndpoint,
  deps: AuthDeps,
  err: GateError,
  verification: Verification | undefined,
  started: number,
): Response {
  const elapsed = (performance.now() - started) / 1000
  deps.metrics.decisions.labels(endpoint, err.code).inc()
  deps.metrics.duration.labels(endpoint).observe(elapsed)
  logDecision(deps, endpoint, incoming, err, verification, elapsed)

  const { status, bearer } = ERRORS[err.code]
  const headers: Record<string, string> = { 'Cache-Control': 'no-store', 'Content-Length': '0' }
  if (status === 401 || status === 403) {
    headers['WWW-Authenticate'] = bearer ? `${CHALLENGE}, error="${bearer}"` : CHALLENGE
  } else {
    headers['Retry-After'] = '5'
  }
  return new Response(null, { status, headers })
}

let requestCounter = 0

/** A process-local id for requests whose proxy sent no `X-Request-Id`. */
function nextRequestId(): string {
  requestCounter = (requestCounter + 1) % Number.MAX_SAFE_INTEGER
  return `${process.pid}-${requestCounter}`
}

/** One record per decision: refusals at info, allows at debug. Never the token. */
function logDecision(
  deps: AuthDeps,
  endpoint: AuthEndpoint,
  incoming: IncomingMessage,
  err: GateError | undefined,
  verification: Verification | undefined,
  elapsed: number,
): void {
  const original = originalRequest(incoming, isTrustedPeer(deps.trustedProxies, incoming))
  const query = original.uri.indexOf('?')
  const token = verification?.token
  const record = {
    req_id: incoming.headers['x-request-id'] ?? nextRequestId(),
    endpoint,
    method: original.method,
    host: original.host,
    path: query < 0 ? original.uri : original.uri.slice(0, query),
    granted: err === undefined,
    code: err?.code ?? 'OK',
    iss: token?.issuer.policy.issuer,
    sub: token?.sub,
    kid: token?.keyId,
    alg: token?.alg,
    duration_ms: Math.round(elapsed * 1e6) / 1000,
  }
  if (!err) deps.logger.debug(record, 'allowed')
  else if (err.code === 'ERR_INTERNAL') deps.logger.error({ ...record, err: err.cause }, 'failed')
  else deps.logger.info({ ...record, reason: err.message }, 'refused')
}
