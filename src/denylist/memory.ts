import type { Denylist, DenylistStatus, RevocationSubject } from './denylist.js'

/**
 * The denylist of a single replica, in process memory. Token entries are dropped once the token
 * has expired, since an expired token is refused anyway.
 */
export class MemoryDenylist implements Denylist {
  private readonly tokens = new Map<string, number>()
  private readonly subjects = new Map<string, number>()
  private readonly sweeper: NodeJS.Timeout

  constructor(sweepEveryMs = 60_000) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), sweepEveryMs)
    this.sweeper.unref()
  }

  isRevoked(token: RevocationSubject, now: number): boolean {
    if (token.jti !== undefined) {
      const exp = this.tokens.get(token.jti)
      if (exp !== undefined && exp * 1000 > now) return true
    }
    const watermark = this.subjects.get(token.sub)
    if (watermark === undefined) return false

    // Without iat a token cannot prove it came after the watermark, so it is refused.
    return token.iat === undefined || token.iat <= watermark
  }

  fresh(): boolean {
    return true
  }

  async revokeToken(jti: string, exp: number): Promise<void> {
    this.tokens.set(jti, Math.max(exp, this.tokens.get(jti) ?? 0))
  }

  async revokeSubject(sub: string, before: number): Promise<void> {
    this.subjects.set(sub, Math.max(before, this.subjects.get(sub) ?? 0))
  }

  status(): DenylistStatus {
    return { fresh: true, entries: this.tokens.size + this.subjects.size }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper)
  }

  private sweep(now: number): void {
    for (const [jti, exp] of this.tokens) if (exp * 1000 <= now) this.tokens.delete(jti)
  }
}
