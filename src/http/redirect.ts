/** Where a sign-in may send the browser back to. */
export interface RedirectPolicy {
  /** `JWTGATE_REDIRECT_HOSTS`: exact host names, `*.domain` for subdomains, optional `:port`. */
  allowedHosts: readonly string[]
  /** Hosts allowed without configuration: the request's own and the gate's public host. */
  defaultHosts: readonly string[]
}

/** Anything a browser could read as another host or scheme, before URL parsing hides it. */
const SUSPICIOUS = /[\\\u0000-\u0020\u007f]/

/**
 * Checks a post-login target (`rd`) and returns it as an absolute URL, or undefined when it may
 * not be followed. Accepted: an absolute http(s) URL without userinfo whose host is allowed, or
 * a path (`/d/abc`) on `base`'s origin. Refused: `//host` and `/\host` (protocol-relative),
 * backslashes and control characters anywhere (browsers rewrite or strip them), other schemes,
 * userinfo tricks (`https://good@evil`), and hosts not on the list.
 */
export function safeRedirect(
  rd: string | undefined,
  base: string,
  policy: RedirectPolicy,
): string | undefined {
  if (!rd || rd.length > 4096 || SUSPICIOUS.test(rd)) return undefined
  if (rd.startsWith('/') && (rd.startsWith('//') || rd.startsWith('/\\'))) return undefined

  let url: URL
  try {
    url = rd.startsWith('/') ? new URL(rd, base) : new URL(rd)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  if (url.username !== '' || url.password !== '') return undefined
  if (!hostAllowed(url, policy)) return undefined
  return url.href
}

function hostAllowed(url: URL, policy: RedirectPolicy): boolean {
  const host = url.hostname.toLowerCase()
  const withPort = url.host.toLowerCase()
  for (const entry of [...policy.allowedHosts, ...policy.defaultHosts]) {
    const allowed = entry.toLowerCase()
    if (allowed === '') continue
    if (allowed === withPort || (!allowed.includes(':') && allowed === host)) return true
    if (allowed.startsWith('*.') && host.endsWith(allowed.slice(1))) return true
  }
  return false
}
