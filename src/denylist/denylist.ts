/** The facts about a token that revocation looks at. */
export interface RevocationSubject {
  readonly sub: string
  /** Seconds since the epoch, when the token has one. */
  readonly iat: number | undefined
  readonly jti: string | undefined
}

/**
 * One revocation. `until` (seconds since the epoch) is when the entry may be forgotten: the
 * token's `exp` plus the clock tolerance, or for a subject the watermark plus the longest token
 * lifetime the gate accepts. After it, nothing the entry covers can pass verification anyway.
 */
export type Revocation =
  | { kind: 'jti'; id: string; until: number }
  | { kind: 'sub'; id: string; before: number; until: number }

export interface DenylistStatus {
  store: 'memory' | 'redis'
  /** False once the local copy is older than JWTGATE_DENYLIST_MAX_STALE. */
  fresh: boolean
  /** False while the shared store cannot be reached (the local copy still serves). */
  connected: boolean
  entries: number
  /** Seconds since the local copy was last known to match the shared store. */
  syncAgeSeconds: number
  reason?: string
}

/** Who or what asked for a revocation, for the audit log. Never a token. */
export interface RevocationActor {
  actor: string
}

/**
 * Revocation by token id and by subject watermark. `isRevoked` and `fresh` are synchronous and
 * read a local copy: the hot path never waits on a remote store.
 */
export interface Denylist {
  /** Loads the local copy and starts following changes. */
  start(): Promise<void>
  isRevoked(token: RevocationSubject, now: number): boolean
  /** Whether the local copy is recent enough to decide on; read per request. */
  fresh(now: number): boolean
  /** Denies one token until its `exp` (seconds since the epoch) has passed. Idempotent. */
  revokeToken(jti: string, exp: number, by: RevocationActor): Promise<void>
  /** Denies every token of `sub` issued at or before `before` (seconds). Idempotent. */
  revokeSubject(sub: string, before: number, by: RevocationActor): Promise<void>
  /** The live entries, for `jwtgate denylist`. */
  list(now: number): Revocation[]
  status(now: number): DenylistStatus
  close(): Promise<void>
}

/** How long entries live: the clock tolerance, and the longest token lifetime accepted. */
export interface DenylistTimes {
  /** Seconds of clock skew the verifier allows past `exp`. */
  clockTolerance: number
  /** Seconds: the longest `exp - iat` the verifier accepts. */
  maxTokenLifetime: number
}

/** Log fields for a revocation: the entry's kind and id, never a token. */
export function describe(entry: Revocation): Record<string, unknown> {
  return entry.kind === 'jti'
    ? { kind: 'jti', jti: entry.id, until: entry.until }
    : { kind: 'sub', sub: entry.id, before: entry.before, until: entry.until }
}

/** Builds the entry for a token revocation. */
export function tokenRevocation(jti: string, exp: number, times: DenylistTimes): Revocation {
  return { kind: 'jti', id: jti, until: Math.ceil(exp) + times.clockTolerance }
}

/** Builds the entry for a subject revocation. */
export function subjectRevocation(sub: string, before: number, times: DenylistTimes): Revocation {
  const watermark = Math.floor(before)
  const until = watermark + times.maxTokenLifetime + times.clockTolerance
  return { kind: 'sub', id: sub, before: watermark, until }
}
