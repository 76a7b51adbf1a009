import { LRUCache } from 'lru-cache'

import { hash } from 'node:crypto'

import { GateError } from '../errors.js'
import type { ErrorCode } from '../errors.js'
import type { Identity } from '../headers/index.js'
import type { KeySource } from '../keys/index.js'
import type { VerifiedToken } from './verify-token.js'

/** A token that passed verification, with its identity headers ready to send. */
export interface Verification {
  readonly token: VerifiedToken
  readonly identity: Identity
  /** Milliseconds since the epoch after which the token is no longer accepted (exp + skew). */
  readonly expiresAt: number
}

export interface VerificationCacheOptions {
  /** Most verified tokens kept; 0 turns the cache off. */
  maxEntries: number
  /** Approximate memory bound for all entries, in bytes. */
  maxBytes?: number
  clockTolerance: number
  /** Verifies a token and maps its identity: the expensive step the cache saves. */
  compute: (token: string) => Promise<Omit<Verification, 'expiresAt'>>
  onLookup?: (result: 'hit' | 'miss' | 'shared') => void
  now?: () => number
}

/**
 * Refusals that stay true for the same token bytes; remembered to blunt replayed forgeries.
 * Limitation: an issuer that reuses a kid for new key material gets its new tokens refused for
 * up to a minute after the gate fetched the new key, if one arrived before the fetch.
 */
const LASTING_FAILURES = new Set<ErrorCode>([
  'ERR_TOKEN_MALFORMED',
  'ERR_TOKEN_ALG',
  'ERR_TOKEN_SIGNATURE',
  'ERR_TOKEN_EXPIRED',
  'ERR_TOKEN_CLAIM',
  'ERR_CLAIM_UNSAFE',
  'ERR_ISSUER_UNKNOWN',
])

/**
 * Remembers verified tokens until they expire, so a repeated token costs a hash and a map
 * lookup instead of a signature check. Entries are keyed by the token's SHA-256, so the cache
 * holds no usable credential. Concurrent first requests with one token share one verification.
 * An entry stops counting as soon as its key leaves the issuer's set.
 */
export class VerificationCache {
  private readonly entries: LRUCache<string, Verification> | undefined
  private readonly failures: LRUCache<string, ErrorCode>
  private readonly inflight = new Map<string, Promise<Verification>>()
  private readonly now: () => number

  constructor(private readonly options: VerificationCacheOptions) {
    this.now = options.now ?? Date.now
    this.entries =
      options.maxEntries > 0
        ? new LRUCache({
            max: options.maxEntries,
            maxSize: options.maxBytes ?? 256 * 1024 * 1024,
            // The decoded claims take roughly the token's length again, plus fixed overhead.
            sizeCalculation: (entry) => 512 + 2 * JSON.stringify(entry.token.payload).length,
          })
        : undefined
    this.failures = new LRUCache({ max: 10_000, ttl: 60_000 })
  }

  get size(): number {
    return this.entries?.size ?? 0
  }

  /** The cache key of a token. */
  static keyOf(token: string): string {
    return hash('sha256', token, 'base64url')
  }

  /**
   * A still-valid cached verification, without waiting. Throws the remembered refusal for a
   * token that failed recently for a lasting reason.
   */
  lookup(key: string): Verification | undefined {
    const entry = this.entries?.get(key)
    if (entry) {
      const keys = entry.token.issuer.keys
      const now = this.now()
      if (entry.expiresAt > now && keys.usable(now) && keys.hasKid(entry.token.keyId)) {
        this.options.onLookup?.('hit')
        return entry
      }
      this.entries?.delete(key)
    }
    const failed = this.failures.get(key)
    if (failed) throw new GateError(failed, 'token failed verification recently')
    return undefined
  }

  /** Verifies a token not found by `lookup`, joining a verification already in flight. */
  verify(key: string, token: string): Promise<Verification> {
    const running = this.inflight.get(key)
    if (running) {
      this.options.onLookup?.('shared')
      return running
    }
    this.options.onLookup?.('miss')
    const promise = this.run(key, token).finally(() => this.inflight.delete(key))
    this.inflight.set(key, promise)
    return promise
  }

  /** A cached verification, else a fresh one: for callers off the synchronous hot path. */
  async resolve(token: string): Promise<Verification> {
    const key = VerificationCache.keyOf(token)
    return this.lookup(key) ?? (await this.verify(key, token))
  }

  /** Drops every entry verified by one of `ids` of `keys`: those keys left the JWKS. */
  evictKeys(keys: KeySource, ids: readonly string[]): number {
    if (!this.entries) return 0
    const gone = new Set(ids)
    let evicted = 0
    for (const [key, entry] of this.entries.entries()) {
      if (entry.token.issuer.keys === keys && gone.has(entry.token.keyId)) {
        this.entries.delete(key)
        evicted++
      }
    }
    return evicted
  }

  private async run(key: string, token: string): Promise<Verification> {
    let computed
    try {
      computed = await this.options.compute(token)
    } catch (err) {
      if (err instanceof GateError && LASTING_FAILURES.has(err.code)) {
        this.failures.set(key, err.code)
      }
      throw err
    }

    const expiresAt = (computed.token.exp + this.options.clockTolerance) * 1000
    const entry: Verification = { ...computed, expiresAt }
    const ttl = expiresAt - this.now()
    if (this.entries && ttl > 0) this.entries.set(key, entry, { ttl })
    return entry
  }
}
