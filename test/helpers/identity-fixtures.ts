import { createSigningKey, signToken } from './tokens.js'

import type { HeaderLines } from './raw-http.js'
import type { RecordedRequest } from './upstream.js'

/** The five identity headers, lower case as Node reports them. */
export const IDENTITY = [
  'x-webauth-user',
  'x-webauth-email',
  'x-webauth-name',
  'x-webauth-groups',
  'x-webauth-role',
] as const

export const ISSUER = 'https://idp.test'
export const AUDIENCE = 'grafana'

/** A user whose token carries every claim the gate maps, and the headers it maps them to. */
export const ALICE_CLAIMS = {
  sub: 'u-alice',
  preferred_username: 'alice',
  email: 'alice@example.com',
  name: 'Alice Liddell',
  groups: ['dev', 'ops'],
}
export const ALICE_HEADERS = {
  'x-webauth-user': 'alice',
  'x-webauth-email': 'alice@example.com',
  'x-webauth-name': 'Alice Liddell',
  'x-webauth-groups': 'dev,ops',
  'x-webauth-role': 'Viewer',
}

/** The five identity headers a request carried, an absent one as ''. */
export function identityOf(request: RecordedRequest | undefined): Record<string, string> {
  const headers = request?.headers ?? {}
  return Object.fromEntries(IDENTITY.map((name) => [name, String(headers[name] ?? '')]))
}

/** Names of identity-like headers beyond the five (other spellings, extra X-WEBAUTH-*). */
export function strayIdentityHeaders(request: RecordedRequest | undefined): string[] {
  const names = Object.keys(request?.headers ?? {})
  return names.filter(
    (name) => /^x[-_]webauth[-_]/i.test(name) && !(IDENTITY as readonly string[]).includes(name),
  )
}

/** Each identity header in the three spellings a client might forge it in. */
export function forgedCopies(header: string, value: string): HeaderLines {
  return [
    [header.toUpperCase(), value],
    [header, value],
    [header.toUpperCase().replaceAll('-', '_'), value],
  ]
}

/** A well-formed token signed by a key the JWKS does not hold. */
export async function badToken(): Promise<string> {
  const stranger = await createSigningKey()
  return signToken(stranger, { iss: ISSUER, aud: AUDIENCE, sub: 'mallory', groups: ['admins'] })
}
