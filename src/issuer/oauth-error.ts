/** Error codes of RFC 6749 §5.2 and RFC 7009 §2.2.1, plus `slow_down` (RFC 8628 §3.5). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_grant'
  | 'unsupported_grant_type'
  | 'unsupported_token_type'
  | 'slow_down'
  | 'temporarily_unavailable'

const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_grant: 400,
  unsupported_grant_type: 400,
  unsupported_token_type: 400,
  slow_down: 429,
  temporarily_unavailable: 503,
}

/**
 * A refusal on the token or revocation endpoint. The description goes to the client, so it
 * never says whether a user exists.
 */
export class OAuthError extends Error {
  readonly status: number
  readonly retryAfter: number | undefined

  constructor(
    readonly error: OAuthErrorCode,
    description: string,
    options: { retryAfter?: number } = {},
  ) {
    super(description)
    this.name = 'OAuthError'
    this.status = STATUS[error]
    this.retryAfter = options.retryAfter
  }
}
