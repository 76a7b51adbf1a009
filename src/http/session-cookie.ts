import type { TokenSet } from '../issuer/token-service.js'

export interface CookieSettings {
  name: string
  secure: boolean
  domain: string | undefined
  /** Seconds the browser keeps the cookie: as long as its refresh token can be used. */
  maxAge: number
}

/**
 * The session cookie holds the access token and, after `~`, the refresh token. One cookie
 * rather than two because nginx passes on only the first `Set-Cookie` of an auth answer, and a
 * sliding refresh must replace both tokens at once. `~` cannot occur in either token.
 */
export function sessionCookie(tokens: TokenSet, settings: CookieSettings): string {
  return serialise(settings, `${tokens.access_token}~${tokens.refresh_token}`, settings.maxAge)
}

/** A `Set-Cookie` value that makes the browser drop the session. */
export function clearedCookie(settings: CookieSettings): string {
  return serialise(settings, '', 0)
}

function serialise(settings: CookieSettings, value: string, maxAge: number): string {
  const parts = [
    `${settings.name}=${value}`,
    'Path=/',
    `Max-Age=${maxAge}`,
    'HttpOnly',
    'SameSite=Lax',
  ]
  if (settings.secure) parts.push('Secure')
  if (settings.domain) parts.push(`Domain=${settings.domain}`)
  return parts.join('; ')
}
