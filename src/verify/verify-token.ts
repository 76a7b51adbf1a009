import { decodeJwt, jwtVerify } from 'jose'

import { GateError } from '../errors.js'
import { checkTokenShape } from './extract.js'
import type { ErrorCode } from '../errors.js'
import type { IssuerPolicy } from '../config/index.js'
import type { KeySource } from '../keys/index.js'

/** One trusted issuer: how its tokens are judged, and where its keys come from. */
export interface TrustedIssuer {
  readonly policy: IssuerPolicy
  readonly keys: KeySource
}

/** What a successful verification proved about a token. */
export interface VerifiedToken {
  readonly issuer: TrustedIssuer
  readonly payload: Record<string, unknown>
  readonly sub: string
  /** Id of the key that verified it (its kid, or its thumbprint when the JWKS had no kid). */
  readonly keyId: string
  readonly alg: string
  /** Seconds since the epoch. */
  readonly exp: number
  readonly iat: number | undefined
  readonly jti: string | undefined
}

export interface VerifyOptions {
  issuers: ReadonlyMap<string, TrustedIssuer>
  /** Seconds of skew allowed on exp, nbf and iat. */
  clockTolerance: number
  /** Longest accepted token lifetime (`exp - iat`), in seconds. */
  maxTokenLifetime: number
  /** Clock in milliseconds; tests pass their own. */
  now?: () => number
}

/** jose's error codes, and the refusal each one becomes. Matched on code, never on text. */
const JOSE_CODES: Record<string, ErrorCode> = {
  ERR_JWT_EXPIRED: 'ERR_TOKEN_EXPIRED',
  ERR_JOSE_ALG_NOT_ALLOWED: 'ERR_TOKEN_ALG',
  ERR_JOSE_NOT_SUPPORTED: 'ERR_TOKEN_ALG',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'ERR_TOKEN_SIGNATURE',
  ERR_JWS_INVALID: 'ERR_TOKEN_MALFORMED',
  ERR_JWT_INVALID: 'ERR_TOKEN_MALFORMED',
  ERR_JWK_INVALID: 'ERR_TOKEN_SIGNATURE',
}

/**
 * Verifies a compact JWS against its issuer's keys. The issuer is picked by the unverified
 * `iss` before any signature work, so one issuer's keys never vouch for another's tokens.
 * Throws GateError (ERR_TOKEN_*, ERR_ISSUER_UNKNOWN, ERR_KEY_UNKNOWN, ERR_KEYS_UNAVAILABLE).
 */
export async function verifyToken(token: string, options: VerifyOptions): Promise<VerifiedToken> {
  checkTokenShape(token)
  const issuer = options.issuers.get(unverifiedIssuer(token))
  if (!issuer) throw new GateError('ERR_ISSUER_UNKNOWN', 'token iss is not a trusted issuer')

  const { policy, keys } = issuer
  const now = options.now?.() ?? Date.now()
  let keyId = ''
  let result
  try {
    result = await jwtVerify(
      token,
      async (header) => {
        const resolved = await keys.getKey(header.kid, header.alg)
        keyId = resolved.id
        return resolved.key
      },
      {
        issuer: policy.issuer,
        audience: [...policy.audience],
        algorithms: [...policy.algorithms],
        clockTolerance: options.clockTolerance,
        requiredClaims: ['exp'],
        currentDate: new Date(now),
      },
    )
  } catch (err) {
    throw translate(err)
  }

  const payload = result.payload as Record<string, unknown>
  checkClaims(payload, now, options)
  return {
    issuer,
    payload,
    sub: payload.sub as string,
    keyId,
    alg: result.protectedHeader.alg,
    exp: payload.exp as number,
    iat: payload.iat as number | undefined,
    jti: payload.jti as string | undefined,
  }
}

function unverifiedIssuer(token: string): string {
  let iss: unknown
  try {
    iss = decodeJwt(token).iss
  } catch {
    throw new GateError('ERR_TOKEN_MALFORMED', 'token payload is not a JWT claims set')
  }
  if (typeof iss !== 'string') throw new GateError('ERR_TOKEN_CLAIM', 'token has no iss')
  return iss
}

/** Claim rules jose leaves to the application (SPEC, Settled details: Claims). */
function checkClaims(payload: Record<string, unknown>, now: number, options: VerifyOptions): void {
  const tolerance = options.clockTolerance
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw new GateError('ERR_TOKEN_CLAIM', 'sub is missing or not a string')
  }

  // Not yet valid rather than invalid: the same token passes once the clock catches up, so
  // this refusal must not be remembered as a lasting one.
  const iat = payload.iat as number | undefined
  if (iat !== undefined && iat > now / 1000 + tolerance) {
    throw new GateError('ERR_TOKEN_NOT_YET_VALID', 'iat is in the future')
  }

  // Subject revocations are kept for the longest lifetime accepted; a longer-lived token
  // could outlast the revocation that covers it.
  const lifetime = (payload.exp as number) - (iat ?? now / 1000)
  if (lifetime > options.maxTokenLifetime + tolerance) {
    throw new GateError('ERR_TOKEN_CLAIM', 'token lives longer than JWTGATE_MAX_TOKEN_LIFETIME')
  }
  if (payload.jti !== undefined && typeof payload.jti !== 'string') {
    throw new GateError('ERR_TOKEN_CLAIM', 'jti is not a string')
  }
}

function translate(err: unknown): GateError {
  if (err instanceof GateError) return err

  const code = (err as { code?: unknown } | null)?.code
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
    const claim = (err as { claim?: unknown }).claim
    if (claim === 'nbf') return new GateError('ERR_TOKEN_NOT_YET_VALID', 'nbf is in the future')
    return new GateError('ERR_TOKEN_CLAIM', `claim ${String(claim)} failed validation`)
  }
  const mapped = typeof code === 'string' ? JOSE_CODES[code] : undefined
  if (mapped) return new GateError(mapped, `jose refused the token (${code})`)

  // Anything else (a key jose will not use, such as a short RSA modulus) is still a refusal.
  return new GateError('ERR_TOKEN_SIGNATURE', 'token could not be verified', { cause: err })
}
