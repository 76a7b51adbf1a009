import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'

import { OAuthError } from '../issuer/oauth-error.js'
import { clientAddress } from './forwarded.js'
import type { TokenService } from '../issuer/token-service.js'
import type { OwnKeys } from '../keys/index.js'
import type { Logger } from '../obs/logger.js'
import type { Context } from 'hono'
import type { HttpBindings } from '@hono/node-server'
import type { BlockList } from 'node:net'

export interface IssuerRouteDeps {
  issuer: string
  publicUrl: string
  tokens: TokenService
  keys: OwnKeys
  trustedProxies: BlockList
  logger: Logger
}

type Env = { Bindings: HttpBindings }

/** RFC 6749 §5.1: token answers must not be stored by any cache. */
export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' }

/**
 * How long verifiers may cache the JWKS. A next key is published 65 minutes before it signs
 * (`jwtgate keys rotate`), so five minutes leaves every cache ample time to learn it.
 */
const JWKS_MAX_AGE = 300

/** The issuer's endpoints: token, JWKS and discovery. */
export function createIssuerRoutes(deps: IssuerRouteDeps): Hono<Env> {
  const app = new Hono<Env>()
  const limit = formLimit()

  app.post('/token', limit, async (c) => {
    const form = await readForm(c)
    const ip = clientAddress(c.env.incoming, deps.trustedProxies)
    try {
      // RFC 6749 §3.2: a parameter sent twice makes the request invalid.
      for (const name of new Set(form.keys())) {
        if (form.getAll(name).length > 1)
          throw new OAuthError('invalid_request', `${name} repeated`)
      }
      const grant = form.get('grant_type')
      if (grant === 'password') {
        const [username, password] = [form.get('username'), form.get('password')]
        if (!username || !password) {
          throw new OAuthError('invalid_request', 'username and password are required')
        }
        // Bounds the work one request can ask of scrypt; the CLI refuses longer passwords too.
        if (password.length > 1024) throw new OAuthError('invalid_request', 'password too long')
        return c.json(await deps.tokens.passwordGrant(username, password, ip), 200, NO_STORE)
      }
      if (grant === 'refresh_token') {
        const token = form.get('refresh_token')
        if (!token) throw new OAuthError('invalid_request', 'refresh_token is required')
        return c.json(await deps.tokens.refreshGrant(token, ip), 200, NO_STORE)
      }
      throw grant
        ? new OAuthError('unsupported_grant_type', 'only password and refresh_token are supported')
        : new OAuthError('invalid_request', 'grant_type is required')
    } catch (err) {
      return oauthError(c, err, deps.logger)
    }
  })

  app.get('/.well-known/jwks.json', (c) =>
    c.json({ keys: deps.keys.publishedJWKs() }, 200, {
      'Cache-Control': `public, max-age=${JWKS_MAX_AGE}`,
    }),
  )

  app.get('/.well-known/openid-configuration', (c) =>
    c.json(discovery(deps), 200, { 'Cache-Control': `public, max-age=${JWKS_MAX_AGE}` }),
  )
  return app
}

/** Refuses request bodies over 16 KiB with an OAuth error: a form is never that large. */
export function formLimit() {
  return bodyLimit({
    maxSize: 16 * 1024,
    onError: (c) => oauthError(c, new OAuthError('invalid_request', 'request body too large')),
  })
}

function discovery({ issuer, publicUrl }: IssuerRouteDeps) {
  return {
    issuer,
    jwks_uri: `${publicUrl}/.well-known/jwks.json`,
    token_endpoint: `${publicUrl}/token`,
    revocation_endpoint: `${publicUrl}/revoke`,
    grant_types_supported: ['password', 'refresh_token'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    claims_supported: [
      'iss',
      'sub',
      'aud',
      'exp',
      'iat',
      'nbf',
      'jti',
      'sid',
      'preferred_username',
      'email',
      'name',
      'groups',
    ],
  }
}

/** Reads an OAuth form body; a JSON object is accepted too, for scripted clients. */
export async function readForm(c: Context<Env>): Promise<URLSearchParams> {
  const type = c.req.header('content-type') ?? ''
  try {
    if (type.startsWith('application/json')) {
      const body = (await c.req.json()) as unknown
      const form = new URLSearchParams()
      if (body && typeof body === 'object') {
        for (const [key, value] of Object.entries(body)) {
          if (typeof value === 'string') form.set(key, value)
        }
      }
      return form
    }
    return new URLSearchParams(await c.req.text())
  } catch {
    return new URLSearchParams()
  }
}

/** Answers an RFC 6749 §5.2 error body; anything unexpected is logged and answered 500. */
export function oauthError(c: Context<Env>, err: unknown, logger?: Logger): Response {
  if (!(err instanceof OAuthError)) {
    if ((err as { code?: string } | null)?.code === 'ERR_HASH_BUSY') {
      return oauthError(
        c,
        new OAuthError('temporarily_unavailable', 'busy; retry shortly', { retryAfter: 1 }),
      )
    }
    logger?.error({ err }, 'unexpected error on the issuer path')
    return c.json({ error: 'server_error' }, 500, NO_STORE)
  }
  const headers: Record<string, string> = { ...NO_STORE }
  if (err.retryAfter !== undefined) headers['Retry-After'] = String(err.retryAfter)
  return c.json({ error: err.error, error_description: err.message }, err.status as 400, headers)
}
