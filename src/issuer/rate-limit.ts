import { ensureConnected } from '../denylist/index.js'
import type { RedisClient } from '../denylist/index.js'

/** At most `max` failures per `windowSeconds`, counted from the first failure in the window. */
export interface LimitRule {
  max: number
  windowSeconds: number
}

export interface LimitState {
  blocked: boolean
  /** Seconds until the window ends (0 when not blocked). */
  retryAfter: number
}

/**
 * Counts failures per key (a client IP or a username) in fixed windows. Checked before any
 * password work, so a blocked client costs no hashing.
 */
export interface FailureLimiter {
  check(key: string, rule: LimitRule, now: number): Promise<LimitState>
  fail(key: string, rule: LimitRule, now: number): Promise<void>
  reset(key: string): Promise<void>
  close(): Promise<void>
}

/** Failure counters of a single replica. */
export class MemoryFailureLimiter implements FailureLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>()
  private readonly sweeper: NodeJS.Timeout

  constructor() {
    this.sweeper = setInterval(() => this.sweep(Date.now()), 60_000)
    this.sweeper.unref()
  }

  async check(key: string, rule: LimitRule, now: number): Promise<LimitState> {
    const window = this.windows.get(key)
    if (!window || window.resetAt <= now || window.count < rule.max) {
      return { blocked: false, retryAfter: 0 }
    }
    return { blocked: true, retryAfter: Math.ceil((window.resetAt - now) / 1000) }
  }

  async fail(key: string, rule: LimitRule, now: number): Promise<void> {
    const window = this.windows.get(key)
    if (!window || window.resetAt <= now) {
      this.windows.set(key, { count: 1, resetAt: now + rule.windowSeconds * 1000 })
    } else {
      window.count++
    }
  }

  async reset(key: string): Promise<void> {
    this.windows.delete(key)
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper)
  }

  private sweep(now: number): void {
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key)
  }
}

/** Failure counters shared through Redis, so limits hold across replicas. */
export class RedisFailureLimiter implements FailureLimiter {
  constructor(private readonly client: RedisClient) {}

  async check(key: string, rule: LimitRule): Promise<LimitState> {
    await this.connected()
    const [count, ttl] = await Promise.all([
      this.client.get(redisKey(key)),
      this.client.pttl(redisKey(key)),
    ])
    if (Number(count ?? 0) < rule.max || ttl <= 0) return { blocked: false, retryAfter: 0 }
    return { blocked: true, retryAfter: Math.ceil(ttl / 1000) }
  }

  async fail(key: string, rule: LimitRule): Promise<void> {
    await this.connected()
    const k = redisKey(key)
    await this.client.multi().incr(k).expire(k, rule.windowSeconds, 'NX').exec()
  }

  async reset(key: string): Promise<void> {
    await this.connected()
    await this.client.del(redisKey(key))
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect())
  }

  private connected(): Promise<void> {
    return ensureConnected(this.client)
  }
}

function redisKey(key: string): string {
  return `{jwtgate}:fail:${key}`
}
