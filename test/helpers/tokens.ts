import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose'

import type { CryptoKey, JWK, JWTPayload, JWTHeaderParameters } from 'jose'

/** A freshly generated signing key: the private half for tests, the public half for a JWKS. */
export interface SigningKey {
  kid: string
  alg: string
  privateKey: CryptoKey
  /** Public JWK carrying `kid`, `alg` and `use: 'sig'`, ready to publish. */
  publicJwk: JWK
}

/**
 * Generates an extractable key pair for `alg` (RS256 by default). `kid` defaults to the public
 * key's RFC 7638 thumbprint, so two keys never share one by accident.
 */
export async function createSigningKey(alg = 'RS256', kid?: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const exported = await exportJWK(publicKey)
  const keyId = kid ?? (await calculateJwkThumbprint(exported))
  return { kid: keyId, alg, privateKey, publicJwk: { ...exported, kid: keyId, alg, use: 'sig' } }
}

/** Options of {@link signToken}. */
export interface SignTokenOptions {
  /** Protected header members merged over `{ alg, kid }`; `kid: undefined` leaves kid out. */
  header?: Partial<JWTHeaderParameters>
  /** Seconds from now, or a jose time span such as `'10m'`; `null` leaves `exp` out. */
  expiresIn?: number | string | null
  /** `null` leaves `iat` out; default is now. */
  issuedAt?: number | null
}

/**
 * Signs `claims` as a compact JWS with `key`. Defaults: `iat` now and `exp` ten minutes later;
 * a claim given in `claims` wins over both defaults.
 */
export async function signToken(
  key: SigningKey,
  claims: JWTPayload,
  options: SignTokenOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const jwt = new SignJWT(claims).setProtectedHeader({
    alg: key.alg,
    kid: key.kid,
    ...options.header,
  } as JWTHeaderParameters)

  if (claims.iat === undefined && options.issuedAt !== null) {
    jwt.setIssuedAt(options.issuedAt ?? now)
  }
  const expiresIn = options.expiresIn === undefined ? 600 : options.expiresIn
  if (claims.exp === undefined && expiresIn !== null) {
    jwt.setExpirationTime(typeof expiresIn === 'number' ? now + expiresIn : expiresIn)
  }
  return jwt.sign(key.privateKey)
}

/** Builds a JWKS document from the public halves of `keys`. */
export function jwks(...keys: SigningKey[]): { keys: JWK[] } {
  return { keys: keys.map((key) => key.publicJwk) }
}
