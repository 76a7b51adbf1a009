import { GateError } from '../errors.js'

/** Tokens larger than this are refused before any parsing (SPEC: 16 KiB). */
export const MAX_TOKEN_BYTES = 16 * 1024

/** Compact JWS: three base64url parts. A JWE has five and is refused here. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

export interface ExtractedToken {
  token: string
  source: 'bearer' | 'cookie'
  /** The refresh token the session cookie carries after `~`, for a sliding session. */
  refresh?: string | undefined
}

/** The request headers extraction reads, as Node parsed them. */
export interface CredentialHeaders {
  authorization?: string | undefined
  cookie?: string | undefined
  /** How many Authorization headers the request carried (Node keeps only the first). */
  authorizationCount?: number
}

/**
 * Finds the caller's token: the `Authorization: Bearer` header, then the session cookie.
 * Throws ERR_TOKEN_MISSING when there is none, ERR_TOKEN_MALFORMED for a broken header,
 * ERR_TOKEN_TOO_LARGE past 16 KiB, and ERR_TOKEN_AMBIGUOUS when two different tokens arrive
 * together (a proxy and a browser disagreeing is never resolved by picking one).
 *
 * The token's own syntax is left to `checkTokenShape`, which verification runs: a token found
 * in the verification cache has passed it already, so the hot path skips the regex.
 */
export function extractToken(headers: CredentialHeaders, cookieName: string): ExtractedToken {
  if ((headers.authorizationCount ?? 0) > 1) {
    throw new GateError('ERR_TOKEN_AMBIGUOUS', 'more than one Authorization header')
  }
  const bearer = headers.authorization ? bearerToken(headers.authorization) : undefined
  const session = headers.cookie ? cookieToken(headers.cookie, cookieName) : undefined

  // The session cookie is `<access token>~<refresh token>` when the gate's own sign-in set it.
  const tilde = session?.indexOf('~') ?? -1
  const cookie = tilde < 0 ? session : session!.slice(0, tilde)

  if (bearer !== undefined && cookie !== undefined && bearer !== cookie) {
    // A broken bearer token is reported as such rather than as a conflict.
    checkTokenShape(bearer)
    throw new GateError('ERR_TOKEN_AMBIGUOUS', 'bearer token and session cookie differ')
  }
  const found = bearer ?? cookie
  if (found === undefined) throw new GateError('ERR_TOKEN_MISSING', 'no bearer token or cookie')

  if (found.length > MAX_TOKEN_BYTES) {
    throw new GateError('ERR_TOKEN_TOO_LARGE', `token longer than ${MAX_TOKEN_BYTES} bytes`)
  }
  if (bearer !== undefined) return { token: found, source: 'bearer' }
  return {
    token: found,
    source: 'cookie',
    refresh: tilde < 0 ? undefined : session!.slice(tilde + 1),
  }
}

/** Throws ERR_TOKEN_MALFORMED unless the token is a compact JWS (a JWE has five parts). */
export function checkTokenShape(token: string): void {
  if (token.length > MAX_TOKEN_BYTES) {
    throw new GateError('ERR_TOKEN_TOO_LARGE', `token longer than ${MAX_TOKEN_BYTES} bytes`)
  }
  if (!COMPACT_JWS.test(token)) {
    throw new GateError('ERR_TOKEN_MALFORMED', 'token is not a compact JWS')
  }
}

/**
 * Reads `Bearer <token>` (scheme matched case-insensitively, RFC 7235 §2.1). Another scheme,
 * such as Basic, is not ours to judge and counts as no bearer token.
 */
function bearerToken(header: string): string | undefined {
  const value = header.trim()
  const space = value.indexOf(' ')
  const scheme = space < 0 ? value : value.slice(0, space)
  if (scheme.toLowerCase() !== 'bearer') return undefined

  // Whitespace or a comma inside the token (two headers folded into one) fails the shape check.
  const token = space < 0 ? '' : value.slice(space + 1).trim()
  if (token === '') {
    throw new GateError('ERR_TOKEN_MALFORMED', 'Authorization header is not "Bearer <token>"')
  }
  return token
}

/** The session cookie's value; two different values under our name are refused. */
function cookieToken(header: string, name: string): string | undefined {
  let found: string | undefined
  let start = 0
  while (start < header.length) {
    const end = header.indexOf(';', start)
    const stop = end < 0 ? header.length : end
    const eq = header.indexOf('=', start)
    if (eq > 0 && eq < stop && header.slice(start, eq).trim() === name) {
      let value = header.slice(eq + 1, stop).trim()
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
        value = value.slice(1, -1)
      }
      if (found !== undefined && found !== value) {
        throw new GateError('ERR_TOKEN_AMBIGUOUS', 'two different session cookies')
      }
      if (value !== '') found = value
    }
    start = stop + 1
  }
  return found
}
