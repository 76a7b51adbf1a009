import type { Revocation, RevocationSubject } from './denylist.js'

/**
 * Times are kept as seconds after this base so they fit V8's small integers (below 2^30) until
 * 2057; an epoch second would be boxed as a heap number, adding 16 bytes to every entry.
 */
const BASE = 1_700_000_000

/**
 * The in-process copy of the live revocations that every store keeps. Applying an entry twice,
 * or an older one after a newer one, changes nothing, so replays after a resync are harmless.
 */
export class LocalCopy {
  /** jti → until (seconds after BASE). */
  private readonly tokens = new Map<string, number>()
  /** sub → [watermark, until] (seconds after BASE). */
  private readonly subjects = new Map<string, [number, number]>()

  get size(): number {
    return this.tokens.size + this.subjects.size
  }

  isRevoked(token: RevocationSubject, now: number): boolean {
    const seconds = now / 1000 - BASE
    if (token.jti !== undefined) {
      const until = this.tokens.get(token.jti)
      if (until !== undefined && until > seconds) return true
    }
    const subject = this.subjects.get(token.sub)
    if (subject === undefined || subject[1] <= seconds) return false

    // Without iat a token cannot show it was issued after the watermark, so it is refused.
    return token.iat === undefined || token.iat - BASE <= subject[0]
  }

  /** Adds an entry, keeping the later watermark and the later expiry. */
  apply(entry: Revocation): void {
    const until = entry.until - BASE
    if (entry.kind === 'jti') {
      this.tokens.set(entry.id, Math.max(until, this.tokens.get(entry.id) ?? -BASE))
      return
    }
    const [before, kept] = this.subjects.get(entry.id) ?? [-BASE, -BASE]
    this.subjects.set(entry.id, [Math.max(before, entry.before - BASE), Math.max(kept, until)])
  }

  /** Drops entries that cover nothing any more. */
  sweep(now: number): void {
    const seconds = now / 1000 - BASE
    for (const [jti, until] of this.tokens) if (until <= seconds) this.tokens.delete(jti)
    for (const [sub, [, until]] of this.subjects) if (until <= seconds) this.subjects.delete(sub)
  }

  list(now: number): Revocation[] {
    const seconds = now / 1000 - BASE
    const entries: Revocation[] = []
    for (const [id, until] of this.tokens) {
      if (until > seconds) entries.push({ kind: 'jti', id, until: until + BASE })
    }
    for (const [id, [before, until]] of this.subjects) {
      if (until > seconds) {
        entries.push({ kind: 'sub', id, before: before + BASE, until: until + BASE })
      }
    }
    return entries
  }
}
