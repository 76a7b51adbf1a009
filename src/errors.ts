/**
 * Every refusal the gate can give, keyed by a stable code. Tests, logs and metrics key on the
 * code; only the HTTP error handler turns a code into a status and a `WWW-Authenticate` value.
 */
export const ERRORS = {
  ERR_TOKEN_MISSING: { status: 401, bearer: undefined },
  ERR_TOKEN_MALFORMED: { status: 401, bearer: 'invalid_token' },
  ERR_TOKEN_TOO_LARGE: { status: 401, bearer: 'invalid_token' },
  ERR_TOKEN_AMBIGUOUS: { status: 401, bearer: 'invalid_request' },
  ERR_TOKEN_ALG: { status: 401, bearer: 'invalid_token' },
  ERR_TOKEN_SIGNATURE: { status: 401, bearer: 'invalid_token' },
  ERR_TOKEN_EXPIRED: { status: 401, bearer: 'invalid_token' },
  ERR_TOKEN_NOT_YET_VALID: { status: 401, bearer: 'invalid_token' },
  ERR_TOKEN_CLAIM: { status: 401, bearer: 'invalid_token' },
  ERR_TOKEN_REVOKED: { status: 401, bearer: 'invalid_token' },
  ERR_ISSUER_UNKNOWN: { status: 401, bearer: 'invalid_token' },
  ERR_KEY_UNKNOWN: { status: 401, bearer: 'invalid_token' },
  ERR_CLAIM_UNSAFE: { status: 401, bearer: 'invalid_token' },
  ERR_POLICY_DENIED: { status: 403, bearer: 'insufficient_scope' },
  ERR_KEYS_UNAVAILABLE: { status: 503, bearer: undefined },
  ERR_DENYLIST_STALE: { status: 503, bearer: undefined },
  ERR_INTERNAL: { status: 503, bearer: undefined },
} as const satisfies Record<string, { status: 401 | 403 | 503; bearer: string | undefined }>

export type ErrorCode = keyof typeof ERRORS

/**
 * A refusal with a stable `code`. The message is for logs and must never contain a token,
 * an unverified claim or a secret.
 */
export class GateError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'GateError'
    this.code = code
  }

  get status(): 401 | 403 | 503 {
    return ERRORS[this.code].status
  }
}

/** Narrows an unknown thrown value to a GateError. */
export function isGateError(err: unknown): err is GateError {
  return err instanceof GateError
}
