import { performance } from 'node:perf_hooks'

import { ERRORS } from '../errors.js'
import { IDENTITY_HEADERS } from '../headers/index.js'
import { isTrustedPeer, originalRequest } from './forwarded.js'
import type { GateError } from '../errors.js'
import type { Identity } from '../headers/index.js'
import type { Logger } from '../obs/logger.js'
import type { Metrics } from '../obs/metrics.js'
import type { Verification } from '../verify/index.js'
import type { IncomingMessage } from 'node:http'
import type { BlockList } from 'node:net'

export type AuthEndpoint = 'auth' | 'forward-auth'

/** What every answer of one auth endpoint needs: where to count, log and look up proxies. */
export interface AnswerContext {
  endpoint: AuthEndpoint
  logger: Logger
  metrics: Metrics
  trustedProxies: BlockList
}

/** The header value a 401 carries when no token was presented (RFC 6750 §3.1). */
const CHALLENGE = 'Bearer realm="jwtgate"'

/**
 * A 200 with the five identity headers. The headers go as a plain object: node-server then
 * writes them straight to the socket instead of building a Fetch `Headers` per answer.
 */
export function allow(values: Identity['values'], setCookie?: string): Response {
  const headers: Record<string, string> = {
    [IDENTITY_HEADERS[0]]: values[0],
    [IDENTITY_HEADERS[1]]: values[1],
    [IDENTITY_HEADERS[2]]: values[2],
    [IDENTITY_HEADERS[3]]: values[3],
    [IDENTITY_HEADERS[4]]: values[4],
    'Cache-Control': 'no-store',
    'Content-Length': '0',
  }
  if (setCookie) headers['Set-Cookie'] = setCookie
  return new Response(null, { status: 200, headers })
}

/**
 * A refusal with its RFC 6750 challenge, or `Retry-After` on a 503. `extra` carries the login
 * redirect of a browser's page navigation. No identity header is ever part of a denial.
 */
export function deny(
  ctx: AnswerContext,
  incoming: IncomingMessage,
  err: GateError,
  verification: Verification | undefined,
  started: number,
  extra: { status?: 302; headers?: Record<string, string> } = {},
): Response {
  const elapsed = (performance.now() - started) / 1000
  ctx.metrics.decisions.labels(ctx.endpoint, err.code).inc()
  ctx.metrics.duration.labels(ctx.endpoint).observe(elapsed)
  logDecision(ctx, incoming, err, verification, elapsed)

  const { status, bearer } = ERRORS[err.code]
  const headers: Record<string, string> = { 'Cache-Control': 'no-store', 'Content-Length': '0' }
  if (status === 401 || status === 403) {
    headers['WWW-Authenticate'] = bearer ? `${CHALLENGE}, error="${bearer}"` : CHALLENGE
  } else {
    headers['Retry-After'] = '5'
  }
  return new Response(null, {
    status: extra.status ?? status,
    headers: { ...headers, ...extra.headers },
  })
}

let requestCounter = 0

/** A process-local id for requests whose proxy sent no `X-Request-Id`. */
function nextRequestId(): string {
  requestCounter = (requestCounter + 1) % Number.MAX_SAFE_INTEGER
  return `${process.pid}-${requestCounter}`
}

/** One record per decision: refusals at info, allows at debug. Never the token. */
export function logDecision(
  ctx: AnswerContext,
  incoming: IncomingMessage,
  err: GateError | undefined,
  verification: Verification | undefined,
  elapsed: number,
): void {
  const original = originalRequest(incoming, isTrustedPeer(ctx.trustedProxies, incoming))
  const query = original.uri.indexOf('?')
  const token = verification?.token
  const record = {
    req_id: incoming.headers['x-request-id'] ?? nextRequestId(),
    endpoint: ctx.endpoint,
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
  if (!err) ctx.logger.debug(record, 'allowed')
  else if (err.code === 'ERR_INTERNAL') ctx.logger.error({ ...record, err: err.cause }, 'failed')
  else ctx.logger.info({ ...record, reason: err.message }, 'refused')
}
