import { Hono } from 'hono'

import { OAuthError } from '../issuer/oauth-error.js'
import { clientAddress } from './forwarded.js'
import { NO_STORE, formLimit, oauthError, readForm } from './issuer-routes.js'
import type { Logger } from '../obs/logger.js'
import type { HttpBindings } from '@hono/node-server'
import type { BlockList } from 'node:net'

export interface RevocationRouteDeps {
  /** Revokes an access token of any trusted issuer, and, with the issuer on, refresh tokens. */
  revoke: (token: string, actor: string) => Promise<void>
  trustedProxies: BlockList
  logger: Logger
}

/**
 * `POST /revoke` (RFC 7009), on whether or not the gate issues tokens itself: it accepts any
 * token the gate would accept. The answer is 200 whether or not the token was known or valid
 * (§2.2), so it tells a caller nothing about tokens it does not hold.
 */
export function createRevocationRoute(deps: RevocationRouteDeps): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>()
  app.post('/revoke', formLimit(), async (c) => {
    const token = (await readForm(c)).get('token')
    if (!token) return oauthError(c, new OAuthError('invalid_request', 'token is required'))
    try {
      await deps.revoke(token, `client:${clientAddress(c.env.incoming, deps.trustedProxies)}`)
    } catch (err) {
      return oauthError(c, err, deps.logger)
    }
    return c.body(null, 200, NO_STORE)
  })
  return app
}
