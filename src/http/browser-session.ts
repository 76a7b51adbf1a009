import { clientAddress, isTrustedPeer, originalRequest } from './forwarded.js'
import { sessionCookie } from './session-cookie.js'
import type { TokenService } from '../issuer/token-service.js'
import type { CookieSettings } from './session-cookie.js'
import type { IncomingMessage } from 'node:http'
import type { BlockList } from 'node:net'

/** The gate's own sign-in, as the auth endpoints use it: login redirects and sliding renewal. */
export interface BrowserSession {
  publicUrl: string
  tokens: TokenService
  cookie: CookieSettings
  /** An access token with less than this many seconds left is renewed on the way. */
  renewBelow: number
}

/**
 * Whether the original request is a browser loading a page: `Sec-Fetch-Mode: navigate`, or,
 * from a client that sends no Fetch Metadata, a GET that accepts HTML. XHR, fetch, websocket
 * and API calls get a plain 401 instead of a redirect they could not follow.
 */
export function isPageNavigation(incoming: IncomingMessage, trusted: BlockList): boolean {
  const mode = incoming.headers['sec-fetch-mode']
  if (mode !== undefined) return mode === 'navigate'
  const { method } = originalRequest(incoming, isTrustedPeer(trusted, incoming))
  return method === 'GET' && (incoming.headers.accept ?? '').includes('text/html')
}

/** The absolute login URL whose `rd` brings the browser back to the page it asked for. */
export function loginUrl(session: BrowserSession, incoming: IncomingMessage, trusted: BlockList) {
  const { proto, host, uri } = originalRequest(incoming, isTrustedPeer(trusted, incoming))
  const rd = `${proto}://${host}${uri.startsWith('/') ? uri : `/${uri}`}`
  return `${session.publicUrl}/login?rd=${encodeURIComponent(rd)}`
}

/**
 * Trades the cookie's refresh token for a new pair and returns the new access token with the
 * cookie that carries both, or undefined when the refresh was refused. Concurrent requests with
 * one cookie share a single refresh (the token service joins them).
 */
export async function renewSession(
  session: BrowserSession,
  refresh: string,
  incoming: IncomingMessage,
  trusted: BlockList,
): Promise<{ access: string; setCookie: string } | undefined> {
  try {
    const tokens = await session.tokens.refreshGrant(refresh, clientAddress(incoming, trusted))
    return { access: tokens.access_token, setCookie: sessionCookie(tokens, session.cookie) }
  } catch {
    return undefined
  }
}
