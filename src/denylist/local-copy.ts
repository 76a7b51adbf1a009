import type { Revocation, RevocationSubject } from './denylist.js'

/**
 * The in-process copy of the live revocations that every store keeps. Applying an entry twice,
 * or an older one after a newer one, changes nothing, so replays after a resync are harmless.
 */
export class LocalCopy {
  /** jti → until (seconds). */
  private readonly tokens = new Map<string, number>()
  /** sub → [watermark, until] (seconds). */
  private readonly subjects = new Map<string, [number, number]>()

  get size(): number {
    return this.tokens.size + this.subjects.size
  }

  isRevoked(token: RevocationSubject, now: number): boolean {
    if (token.jti !== undefined) {
      const until = this.tokens.get(token.jti)
      if (until !== undefined && until * 1000 > now) return true
    }
    const subject = this.subjects.get(token.sub)
    if (subject === undefined || subject[1] * 1000 <= now) return false

    // Without iat a token cannot show it was issued after the watermark, so it is refused.
    return token.iat === undefined || token.iat <= subject[0]
  }

  /** Adds an entry, keeping the later watermark and the later expiry. */
  apply(entry: Revocation): void {
    if (entry.kind === 'jti') {
      this.tokens.set(entry.id, Math.max(entry.until, this.tokens.get(entry.id) ?? 0))
      return
    }
    const [before, until] = this.subjects.get(entry.id) ?? [0, 0]
    this.subjects.set(entry.id, [Math.max(before, entry.before), Math.max(until, entry.until)])
  }

  /** Drops entries that cover nothing any more. */
  sweep(now: number): void {
    const seconds = now / 1000
    for (const [jti, until] of this.tokens) if (until <= seconds) this.tokens.delete(jti)
    for (const [sub, [, until]] of this.subjects) if (until <= seconds) this.subjects.delete(sub)
  }

  list(now: number): Revocation[] {
    const seconds = now / 1000
    const entries: Revocation[] = []
    for (const [id, until] of this.tokens) {
      if (until > seconds) entries.push({ kind: 'jti', id, until })
    }
    for (const [id, [before, until]] of this.subjects) {
      if (until > seconds) entries.push({ kind: 'sub', id, before, until })
    }
    return entries
  }
}
