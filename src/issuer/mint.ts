import { SignJWT } from 'jose'

import { randomUUID } from 'node:crypto'

import { importSigningKey } from '../keys/index.js'
import type { StoredKey } from '../keys/index.js'

export interface MintOptions {
  issuer: string
  audience: string
  subject: string
  ttlSeconds: number
  /** Extra claims; undefined members are left out. */
  claims?: Record<string, unknown>
  /** Token id for revocation; a random UUID when not given. */
  jti?: string | undefined
  /** Seconds since the epoch; now when not given. */
  issuedAt?: number
}

/** Signs an access token with one of the gate's own keys; `kid` always names the key. */
export async function mintToken(key: StoredKey, options: MintOptions): Promise<string> {
  const iat = options.issuedAt ?? Math.floor(Date.now() / 1000)
  const claims = Object.fromEntries(
    Object.entries(options.claims ?? {}).filter(([, value]) => value !== undefined),
  )
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setSubject(options.subject)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + options.ttlSeconds)
    .setJti(options.jti ?? randomUUID())
    .sign(await importSigningKey(key))
}
