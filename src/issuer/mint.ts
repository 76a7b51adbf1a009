import { SignJWT } from 'jose'

import { randomUUID } from 'node:crypto'

import type { StoredKey } from '../keys/index.js'
import type { CryptoKey } from 'jose'

/** A signing key ready for use: its stored description and imported private half. */
export interface Signer {
  key: StoredKey
  privateKey: CryptoKey
}

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
export async function mintToken(signer: Signer, options: MintOptions): Promise<string> {
  const iat = options.issuedAt ?? Math.floor(Date.now() / 1000)
  const claims = Object.fromEntries(
    Object.entries(options.claims ?? {}).filter(([, value]) => value !== undefined),
  )
  return new SignJWT(claims)
    .setProtectedHeader({ alg: signer.key.alg, kid: signer.key.kid, typ: 'JWT' })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setSubject(options.subject)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + options.ttlSeconds)
    .setJti(options.jti ?? randomUUID())
    .sign(signer.privateKey)
}
