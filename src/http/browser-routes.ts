import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'

import { OAuthError } from '../issuer/oauth-error.js'
import { extractToken } from '../verify/index.js'
import { clientAddress, isTrustedPeer, originalRequest } from './forwarded.js'
import { loginPage, logoutPage } from './pages.js'
import { safeRedirect } from './redirect.js'
import { clearedCookie, sessionCookie } from './session-cookie.js'
import type { Logger } from '../obs/logger.js'
import type { BrowserSession } from './browser-session.js'
import type { Page } from './pages.js'
import type { Context } from 'hono'
import type { HttpBindings } from '@hono/node-server'
import type { BlockList } from 'node:net'

export interface BrowserRouteDeps {
  session: BrowserSession
  /** JWTGATE_REDIRECT_HOSTS. */
  redirectHosts: readonly string[]
  trustedProxies: BlockList
  logger: Logger
}

type Env = { Bindings: HttpBindings }
type BrowserContext = Context<Env>

/** The human path: the sign-in page, the sign-in itself, and signing out. */
export function createBrowserRoutes(deps: BrowserRouteDeps): Hono<Env> {
  const app = new Hono<Env>()
  const { session } = deps
  const limit = bodyLimit({ maxSize: 16 * 1024, onError: (c) => c.text('request too large', 413) })

  app.get('/login', (c) => {
    const rd = target(c, deps, c.req.query('rd'))
    return send(c, loginPage({ rd, destination: new URL(rd).host }, formTargets(deps, rd)))
  })

  app.post('/login', limit, async (c) => {
    const form = new URLSearchParams(await c.req.text())
    const rd = target(c, deps, form.get('rd') ?? undefined)
    const username = form.get('username') ?? ''
    const view = { rd, username, destination: new URL(rd).host }
    const targets = formTargets(deps, rd)
    if (!sameOrigin(c, deps)) return send(c, loginPage({ ...view, error: REFUSED }, targets), 403)

    try {
      const password = form.get('password') ?? ''
      if (username === '' || password === '' || password.length > 1024) {
        throw new OAuthError('invalid_grant', 'missing credentials')
      }
      const ip = clientAddress(c.env.incoming, deps.trustedProxies)
      const tokens = await session.tokens.passwordGrant(username, password, ip)
      return c.body(null, 303, {
        Location: rd,
        'Set-Cookie': sessionCookie(tokens, session.cookie),
        'Cache-Control': 'no-store',
      })
    } catch (err) {
      const [status, error, retryAfter] = describeFailure(err, deps.logger)
      const answer = send(c, loginPage({ ...view, error }, targets), status)
      if (retryAfter !== undefined) answer.headers.set('Retry-After', String(retryAfter))
      return answer
    }
  })

  app.get('/logout', (c) => {
    const home = target(c, deps, undefined)
    return send(c, logoutPage(formTargets(deps, home, '/logout'), new URL(home).host))
  })

  app.post('/logout', limit, async (c) => {
    if (!sameOrigin(c, deps)) return c.text('cross-site sign-out refused', 403)
    await endSession(c, deps)
    return c.body(null, 303, {
      Location: `${session.publicUrl}/login`,
      'Set-Cookie': clearedCookie(session.cookie),
      'Cache-Control': 'no-store',
    })
  })
  return app
}

const REFUSED = 'This sign-in did not come from this page. Reload the page and try again.'

function send(c: BrowserContext, page: Page, status: 200 | 401 | 403 | 429 | 503 = 200) {
  return c.html(page.html, status, page.headers)
}

/** The origin the browser sees, from trusted forwarded headers or the request itself. */
function requestOrigin(c: BrowserContext, deps: BrowserRouteDeps): string {
  const incoming = c.env.incoming
  const { proto, host } = originalRequest(incoming, isTrustedPeer(deps.trustedProxies, incoming))
  return `${proto}://${host}`
}

/** The checked `rd`, or the root of the site the user came from. */
function target(c: BrowserContext, deps: BrowserRouteDeps, rd: string | undefined): string {
  const origin = requestOrigin(c, deps)
  const policy = {
    allowedHosts: deps.redirectHosts,
    defaultHosts: [new URL(origin).host, new URL(deps.session.publicUrl).host],
  }
  return safeRedirect(rd, origin, policy) ?? `${origin}/`
}

function formTargets(deps: BrowserRouteDeps, rd: string, path = '/login') {
  return {
    formAction: path,
    redirectOrigins: [new URL(rd).origin, new URL(deps.session.publicUrl).origin],
  }
}

/**
 * Refuses cross-site form posts (login CSRF, forced sign-out): Fetch Metadata when the browser
 * sends it, else the Origin header. A client that sends neither is not a browser.
 */
function sameOrigin(c: BrowserContext, deps: BrowserRouteDeps): boolean {
  const site = c.req.header('sec-fetch-site')
  if (site !== undefined) return site === 'same-origin'
  const origin = c.req.header('origin')
  if (origin === undefined) return true
  return origin === requestOrigin(c, deps) || origin === new URL(deps.session.publicUrl).origin
}

/** Revokes the session's access token (which ends its sign-in) and its refresh token. */
async function endSession(c: BrowserContext, deps: BrowserRouteDeps): Promise<void> {
  let found
  try {
    found = extractToken({ cookie: c.req.header('cookie') }, deps.session.cookie.name)
  } catch {
    return
  }
  const actor = `logout:${clientAddress(c.env.incoming, deps.trustedProxies)}`
  await deps.session.tokens.revoke(found.token, actor)
  if (found.refresh) await deps.session.tokens.revoke(found.refresh, actor)
}

function describeFailure(err: unknown, logger: Logger): [401 | 429 | 503, string, number?] {
  if (err instanceof OAuthError && err.error === 'slow_down') {
    const wait = err.retryAfter ?? 60
    return [429, `Too many failed sign-ins. Try again in ${wait} seconds.`, wait]
  }
  if ((err as { code?: string } | null)?.code === 'ERR_HASH_BUSY') {
    return [503, 'The sign-in service is busy. Try again in a moment.', 1]
  }
  if (err instanceof OAuthError) return [401, 'Wrong username or password.']
  logger.error({ err }, 'unexpected error during sign-in')
  return [503, 'Sign-in is unavailable right now. Try again in a moment.', 5]
}
