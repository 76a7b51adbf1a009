import { performance } from 'node:perf_hooks'

import { GateError } from '../errors.js'
import {
  VerificationCache,
  checkPolicy,
  extractToken,
  parseLocationPolicy,
} from '../verify/index.js'
import { allow, deny, logDecision } from './auth-answers.js'
import { isPageNavigation, loginUrl, renewSession } from './browser-session.js'
import type { Denylist } from '../denylist/index.js'
import type { Logger } from '../obs/logger.js'
import type { Metrics } from '../obs/metrics.js'
import type { ExtractedToken, Verification } from '../verify/index.js'
import type { AnswerContext, AuthEndpoint } from './auth-answers.js'
import type { BrowserSession } from './browser-session.js'
import type { Context } from 'hono'
import type { HttpBindings } from '@hono/node-server'
import type { IncomingMessage } from 'node:http'
import type { BlockList } from 'node:net'

export type { AuthEndpoint } from './auth-answers.js'

export interface AuthDeps {
  cache: VerificationCache
  denylist: Denylist
  cookieName: string
  trustedProxies: BlockList
  logger: Logger
  metrics: Metrics
  /** The gate's own sign-in; without it there are no login redirects or renewals. */
  session: BrowserSession | undefined
  now?: () => number
}

type GateContext = Context<{ Bindings: HttpBindings }>

/**
 * The decision pipeline behind `/auth` and `/forward-auth`: extract the token, verify it (or
 * find it verified), check revocation, apply the location's policy, answer. Every answer has an
 * empty, fixed-length body: nginx cannot keep its upstream connection after a chunked one.
 */
export function createAuthHandler(endpoint: AuthEndpoint, deps: AuthDeps) {
  const { cache, denylist, metrics, session, trustedProxies } = deps
  const now = deps.now ?? Date.now
  const ctx: AnswerContext = { endpoint, logger: deps.logger, metrics, trustedProxies }
  const allowed = metrics.decisions.labels(endpoint, 'OK')
  const duration = metrics.duration.labels(endpoint)

  const decide = (
    incoming: IncomingMessage,
    verification: Verification,
    started: number,
    setCookie?: string,
  ) => {
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
      return refuse(incoming, toGateError(err), verification, started)
    }

    const elapsed = (performance.now() - started) / 1000
    allowed.inc()
    duration.observe(elapsed)
    if (deps.logger.isLevelEnabled('debug')) {
      logDecision(ctx, incoming, undefined, verification, elapsed)
    }
    return allow(verification.identity.values, setCookie)
  }

  /** A 401 to a browser loading a page becomes the way to the login page. */
  const refuse = (
    incoming: IncomingMessage,
    err: GateError,
    verification: Verification | undefined,
    started: number,
  ) => {
    if (!session || err.status !== 401 || !isPageNavigation(incoming, trustedProxies)) {
      return deny(ctx, incoming, err, verification, started)
    }
    const location = loginUrl(session, incoming, trustedProxies)

    // nginx's auth_request accepts only 2xx, 401 and 403, so /auth names the login page in a
    // header its error_page can read; forward-auth proxies pass a 302 on to the browser.
    return endpoint === 'forward-auth'
      ? deny(ctx, incoming, err, verification, started, {
          status: 302,
          headers: { Location: location },
        })
      : deny(ctx, incoming, err, verification, started, {
          headers: { 'X-Jwtgate-Login': location },
        })
  }

  /** Renews the session on the way, or falls back to the answer the old token earned. */
  const renew = async (
    incoming: IncomingMessage,
    refresh: string,
    started: number,
    fallback: () => Response,
  ) => {
    const renewed = await renewSession(session!, refresh, incoming, trustedProxies)
    if (!renewed) return fallback()
    try {
      const verification = await cache.resolve(renewed.access)
      return decide(incoming, verification, started, renewed.setCookie)
    } catch (err) {
      return refuse(incoming, toGateError(err), undefined, started)
    }
  }

  const nearExpiry = (extracted: ExtractedToken, verification: Verification) =>
    session !== undefined &&
    extracted.refresh !== undefined &&
    verification.token.exp - now() / 1000 < session.renewBelow

  const expiredWithRefresh = (extracted: ExtractedToken | undefined, err: GateError) =>
    session !== undefined && extracted?.refresh !== undefined && err.code === 'ERR_TOKEN_EXPIRED'

  const verified = (
    incoming: IncomingMessage,
    extracted: ExtractedToken,
    verification: Verification,
    started: number,
  ) =>
    nearExpiry(extracted, verification)
      ? renew(incoming, extracted.refresh!, started, () => decide(incoming, verification, started))
      : decide(incoming, verification, started)

  const failed = (
    incoming: IncomingMessage,
    extracted: ExtractedToken | undefined,
    err: GateError,
    started: number,
  ) =>
    expiredWithRefresh(extracted, err)
      ? renew(incoming, extracted!.refresh!, started, () =>
          refuse(incoming, err, undefined, started),
        )
      : refuse(incoming, err, undefined, started)

  // A cached token is answered synchronously, which lets node-server write the response
  // without a promise round; only a first sight of a token waits for verification.
  return (c: GateContext): Response | Promise<Response> => {
    const started = performance.now()
    const incoming = c.env.incoming
    let extracted: ExtractedToken | undefined
    let key: string
    let verification: Verification | undefined
    try {
      extracted = extractToken(credentials(incoming), deps.cookieName)
      key = VerificationCache.keyOf(extracted.token)
      verification = cache.lookup(key)
    } catch (err) {
      return failed(incoming, extracted, toGateError(err), started)
    }
    if (verification) return verified(incoming, extracted, verification, started)

    const found = extracted
    return cache.verify(key, found.token).then(
      (fresh) => verified(incoming, found, fresh, started),
      (err: unknown) => failed(incoming, found, toGateError(err), started),
    )
  }
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
