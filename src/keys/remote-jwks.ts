import { LRUCache } from 'lru-cache'

import { GateError } from '../errors.js'
import { KeySet } from './key-set.js'
import type { Logger } from '../obs/logger.js'
import type { KeySource, KeySourceStatus, ResolvedKey } from './key-set.js'

export type FetchOutcome = 'ok' | 'error'

export interface RemoteJWKSOptions {
  issuer: string
  urls: readonly string[]
  algorithms: readonly string[]
  /** Seconds a fetched set is fresh; a background refresh starts before it runs out. */
  maxAge: number
  /** Least seconds between two fetch attempts, whatever triggers them. */
  cooldown: number
  /** Seconds past `maxAge` that the last good set stays in use while fetches fail. */
  maxStale: number
  /** Seconds one fetch may take. */
  timeout: number
  /** Largest JWKS body accepted, in bytes. Default 512 KiB. */
  maxBytes?: number
  logger: Logger
  onFetch?: (outcome: FetchOutcome) => void
  /** Clock in milliseconds; tests pass their own. */
  now?: () => number
}

/** Key ids longer than this are refused before any lookup; real ones are far shorter. */
const MAX_KID_LENGTH = 256

/**
 * The trusted keys of one remote issuer: a cached JWKS that refreshes itself in the background,
 * refetches (rate-limited) on an unknown `kid`, and keeps the last good set through an outage
 * for a bounded time. A request waits on the network only when no usable set exists.
 */
export class RemoteJWKS implements KeySource {
  readonly issuer: string
  private readonly opts: Required<Omit<RemoteJWKSOptions, 'onFetch'>> & RemoteJWKSOptions
  private set: KeySet | undefined
  private loadedAt = Number.NEGATIVE_INFINITY
  private lastAttempt = Number.NEGATIVE_INFINITY
  private lastError: string | undefined
  private inflight: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private timerAt = Number.POSITIVE_INFINITY
  private warnedStale = false
  private closed = false
  private readonly listeners: ((ids: string[]) => void)[] = []
  private readonly missing: LRUCache<string, true>

  constructor(options: RemoteJWKSOptions) {
    this.issuer = options.issuer
    this.opts = { maxBytes: 512 * 1024, now: Date.now, ...options }

    // A kid the last fetch did not have is refused without another fetch until the cooldown
    // has passed, so a flood of made-up kids costs the identity provider nothing extra.
    this.missing = new LRUCache({ max: 10_000, ttl: options.cooldown * 1000 })
  }

  /** Starts the first fetch; resolves when it has ended, whatever its outcome. */
  start(): Promise<void> {
    return this.refresh()
  }

  async getKey(kid: string | undefined, alg: string): Promise<ResolvedKey> {
    if (kid !== undefined && (kid.length > MAX_KID_LENGTH || kid === '')) {
      throw new GateError('ERR_KEY_UNKNOWN', 'token kid is empty or too long')
    }

    if (!this.usable(this.opts.now())) await this.refreshWithinCooldown()
    if (!this.set || !this.usable(this.opts.now())) {
      throw new GateError('ERR_KEYS_UNAVAILABLE', `no usable keys for issuer: ${this.reason()}`)
    }

    const found = this.set.find(kid, alg)
    if (found) return found
    if (kid === undefined || this.missing.has(kid)) throw this.unknownKey(kid)

    await this.refreshWithinCooldown()
    const refetched = this.set.find(kid, alg)
    if (refetched) return refetched
    this.missing.set(kid, true)
    throw this.unknownKey(kid)
  }

  usable(now: number): boolean {
    const { maxAge, maxStale } = this.opts
    return this.set !== undefined && now - this.loadedAt <= (maxAge + maxStale) * 1000
  }

  hasKid(id: string): boolean {
    return this.set?.has(id) ?? false
  }

  onRemoved(listener: (ids: string[]) => void): void {
    this.listeners.push(listener)
  }

  status(now: number): KeySourceStatus {
    const ready = this.usable(now)
    const loaded = Number.isFinite(this.loadedAt)
    return {
      issuer: this.issuer,
      ready,
      keys: this.set?.size ?? 0,
      ageSeconds: loaded ? Math.round((now - this.loadedAt) / 1000) : -1,
      ...(ready ? {} : { reason: this.reason() }),
    }
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
  }

  private unknownKey(kid: string | undefined): GateError {
    const what = kid === undefined ? 'no kid and no single matching key' : 'kid not in the JWKS'
    return new GateError('ERR_KEY_UNKNOWN', what)
  }

  private reason(): string {
    const cause = this.lastError ?? 'not fetched yet'
    if (!Number.isFinite(this.loadedAt)) return `JWKS never loaded (${cause})`
    return `JWKS stale past JWTGATE_JWKS_MAX_STALE (${cause})`
  }

  /**
   * Fetches now if the cooldown allows, else joins the fetch in flight, else schedules one for
   * when the cooldown ends (so a newly published key arrives as soon as allowed).
   */
  private async refreshWithinCooldown(): Promise<void> {
    if (this.inflight) return this.inflight
    const wait = this.lastAttempt + this.opts.cooldown * 1000 - this.opts.now()
    if (wait <= 0) return this.refresh()
    this.schedule(wait)
  }

  private refresh(): Promise<void> {
    this.inflight ??= this.fetchAll().finally(() => {
      this.inflight = undefined
    })
    return this.inflight
  }

  private async fetchAll(): Promise<void> {
    this.lastAttempt = this.opts.now()
    const log = this.opts.logger
    try {
      // One failing URL fails the whole attempt: a partial set would look like key removal
      // and evict valid sessions, so the last good set is kept instead.
      const documents = await Promise.all(this.opts.urls.map((url) => this.fetchOne(url)))
      const next = await KeySet.fromJWKS(documents, this.opts.algorithms)
      if (next.size === 0) throw new Error('JWKS has no usable key for the allowed algorithms')
      this.install(next)
      this.opts.onFetch?.('ok')
      log.debug({ issuer: this.issuer, keys: next.size }, 'JWKS loaded')
      this.schedule(this.opts.maxAge * 750)
    } catch (err) {
      this.lastError = (err as Error).message
      this.opts.onFetch?.('error')
      this.logFailure()
      this.schedule(this.opts.cooldown * 1000)
    }
  }

  private install(next: KeySet): void {
    const removed = this.set ? [...this.set.ids()].filter((id) => !next.has(id)) : []
    this.set = next
    this.loadedAt = this.opts.now()
    this.lastError = undefined
    this.warnedStale = false
    this.missing.clear()
    if (removed.length === 0) return
    this.opts.logger.info({ issuer: this.issuer, kids: removed }, 'keys left the JWKS')
    for (const listener of this.listeners) listener(removed)
  }

  private logFailure(): void {
    const now = this.opts.now()
    const fields = { issuer: this.issuer, reason: this.lastError }
    if (!this.set) {
      this.opts.logger.error(fields, 'JWKS fetch failed; no keys loaded yet')
    } else if (!this.usable(now)) {
      this.opts.logger.error(fields, 'JWKS fetch failed; last good keys expired, failing closed')
    } else if (!this.warnedStale) {
      this.warnedStale = true
      this.opts.logger.warn(fields, 'JWKS fetch failed; serving with the last good keys')
    }
  }

  private schedule(delayMs: number): void {
    if (this.closed) return
    const at = this.opts.now() + Math.max(delayMs, 1000)
    if (this.timer && at >= this.timerAt) return
    clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.timerAt = Number.POSITIVE_INFINITY
      void this.refresh()
    }, at - this.opts.now())
    this.timer.unref()
  }

  private async fetchOne(url: string): Promise<unknown> {
    const response = await fetch(url, {
      headers: { accept: 'application/json, application/jwk-set+json' },
      signal: AbortSignal.timeout(this.opts.timeout * 1000),
      redirect: 'follow',
    })
    if (!response.ok) throw new Error(`JWKS answered HTTP ${response.status}`)
    const length = Number(response.headers.get('content-length') ?? 0)
    if (length > this.opts.maxBytes) throw new Error(`JWKS larger than ${this.opts.maxBytes} bytes`)

    const body = await readLimited(response, this.opts.maxBytes)
    try {
      return JSON.parse(body)
    } catch {
      throw new Error('JWKS is not JSON')
    }
  }
}

async function readLimited(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > maxBytes) throw new Error(`JWKS larger than ${maxBytes} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
