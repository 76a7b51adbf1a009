/** What the issuer remembers about one refresh token, keyed by a hash of the token. */
export interface RefreshRecord {
  /** Every token descended from one sign-in shares a family; reuse ends the whole family. */
  family: string
  /** The user the family belongs to. */
  sub: string
  /** When the family began (seconds): it ends at this plus JWTGATE_SESSION_MAX_AGE. */
  familyStartedAt: number
  /** When this token expires (seconds). */
  exp: number
}

export type ConsumeResult =
  | { status: 'fresh'; record: RefreshRecord }
  | { status: 'reused'; record: RefreshRecord; usedAt: number; successor: string | undefined }
  | { status: 'unknown' }

/**
 * Refresh tokens and their families. `consume` is atomic across replicas: of two requests with
 * one token, exactly one sees it fresh.
 */
export interface RefreshStore {
  save(id: string, record: RefreshRecord): Promise<void>
  /** Marks a token used at `now` (seconds), reporting whether it was fresh, reused or unknown. */
  consume(id: string, now: number): Promise<ConsumeResult>
  /** Keeps the sealed answer a used token produced, for a short replay window. */
  setSuccessor(id: string, sealed: string): Promise<void>
  /** The record without using it up, for revocation. */
  peek(id: string): Promise<RefreshRecord | undefined>
  /** Remembers an access token minted for a family, so ending the family can revoke it. */
  addFamilyToken(family: string, jti: string, exp: number): Promise<void>
  /** Ends a family and returns the access tokens it minted. Idempotent. */
  endFamily(family: string, until: number): Promise<{ jti: string; exp: number }[]>
  familyEnded(family: string): Promise<boolean>
  close(): Promise<void>
}

interface StoredToken {
  record: RefreshRecord
  usedAt?: number
  successor?: string
}

/** The refresh store of a single replica, in memory; entries go when they expire. */
export class MemoryRefreshStore implements RefreshStore {
  private readonly tokens = new Map<string, StoredToken>()
  private readonly ended = new Map<string, number>()
  private readonly familyTokens = new Map<string, { jti: string; exp: number }[]>()
  private readonly sweeper: NodeJS.Timeout

  constructor() {
    this.sweeper = setInterval(() => this.sweep(Date.now() / 1000), 60_000)
    this.sweeper.unref()
  }

  async save(id: string, record: RefreshRecord): Promise<void> {
    this.tokens.set(id, { record })
  }

  async consume(id: string, now: number): Promise<ConsumeResult> {
    const stored = this.tokens.get(id)
    if (!stored || stored.record.exp <= now) return { status: 'unknown' }
    if (stored.usedAt !== undefined) {
      const { record, usedAt, successor } = stored
      return { status: 'reused', record, usedAt, successor }
    }
    stored.usedAt = now
    return { status: 'fresh', record: stored.record }
  }

  async setSuccessor(id: string, sealed: string): Promise<void> {
    const stored = this.tokens.get(id)
    if (stored) stored.successor = sealed
  }

  async peek(id: string): Promise<RefreshRecord | undefined> {
    return this.tokens.get(id)?.record
  }

  async addFamilyToken(family: string, jti: string, exp: number): Promise<void> {
    const now = Date.now() / 1000
    const live = (this.familyTokens.get(family) ?? []).filter((token) => token.exp > now)
    this.familyTokens.set(family, [...live, { jti, exp }])
  }

  async endFamily(family: string, until: number): Promise<{ jti: string; exp: number }[]> {
    this.ended.set(family, Math.max(until, this.ended.get(family) ?? 0))
    const minted = this.familyTokens.get(family) ?? []
    this.familyTokens.delete(family)
    return minted
  }

  async familyEnded(family: string): Promise<boolean> {
    return this.ended.has(family)
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper)
  }

  private sweep(now: number): void {
    for (const [id, { record }] of this.tokens) if (record.exp <= now) this.tokens.delete(id)
    for (const [family, until] of this.ended) if (until <= now) this.ended.delete(family)
    for (const [family, tokens] of this.familyTokens) {
      if (tokens.every((token) => token.exp <= now)) this.familyTokens.delete(family)
    }
  }
}
