/** The facts about a token that revocation looks at. */
export interface RevocationSubject {
  readonly sub: string
  /** Seconds since the epoch, when the token has one. */
  readonly iat: number | undefined
  readonly jti: string | undefined
}

export interface DenylistStatus {
  /** False once the local copy is older than JWTGATE_DENYLIST_MAX_STALE. */
  fresh: boolean
  entries: number
  reason?: string
}

/**
 * Revocation by token id and by subject watermark. `isRevoked` and `fresh` are synchronous and
 * local: the hot path never waits on a remote store.
 */
export interface Denylist {
  isRevoked(token: RevocationSubject, now: number): boolean
  /** Whether the local copy is recent enough to decide on; cheap, read per request. */
  fresh(now: number): boolean
  /** Denies one token until its `exp` (seconds since the epoch). Idempotent. */
  revokeToken(jti: string, exp: number): Promise<void>
  /** Denies every token of `sub` issued at or before `before` (seconds). Idempotent. */
  revokeSubject(sub: string, before: number): Promise<void>
  status(now: number): DenylistStatus
  close(): Promise<void>
}
