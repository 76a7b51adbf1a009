import { setTimeout as sleep } from 'node:timers/promises'

import { LocalCopy } from './local-copy.js'
import { dataNodes, duplicateClient, ensureConnected } from './redis-client.js'
import { describe, subjectRevocation, tokenRevocation } from './denylist.js'
import type { Logger } from '../obs/logger.js'
import type { RedisClient } from './redis-client.js'
import type {
  Denylist,
  DenylistStatus,
  DenylistTimes,
  Revocation,
  RevocationActor,
  RevocationSubject,
} from './denylist.js'

export interface RedisDenylistOptions extends DenylistTimes {
  client: RedisClient
  logger: Logger
  /** Seconds without contact after which the copy is too old to decide on; 0: never. */
  maxStale: number
  /** Full resynchronisation period, in ms (default five minutes). */
  resyncEveryMs?: number
  /** How long one blocking read waits for news, in ms; also the contact heartbeat. */
  blockMs?: number
  now?: () => number
}

/**
 * All keys share the `{jwtgate}` hash tag, so in a Redis Cluster they sit in one slot and the
 * entry and its change record can be written by one script.
 */
const PREFIX = '{jwtgate}:deny'
const STREAM = `${PREFIX}:log`
const STREAM_MAX = 100_000

/**
 * Stores an entry (keeping the later watermark and expiry of an existing one), lets Redis
 * expire it when it covers nothing any more, and appends it to the change stream replicas
 * follow. Returns the stored entry.
 */
const RECORD = `
local entry = cjson.decode(ARGV[1])
local current = redis.call('GET', KEYS[1])
if current then
  local old = cjson.decode(current)
  if old['until'] > entry['until'] then entry['until'] = old['until'] end
  if old['before'] and entry['before'] and old['before'] > entry['before'] then
    entry['before'] = old['before']
  end
end
local json = cjson.encode(entry)
redis.call('SET', KEYS[1], json, 'EXAT', entry['until'])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'e', json)
return json
`

type StreamReply = [string, [string, string[]][]][] | null

/**
 * The denylist shared by every replica through Redis. Each replica keeps a local copy: loaded
 * at start, fed by a blocking read of a change stream (so a revocation reaches every replica
 * within milliseconds), and fully resynchronised after each reconnect and periodically, so a
 * missed change heals. While Redis is away the copy keeps serving until it is `maxStale` old.
 */
export class RedisDenylist implements Denylist {
  private readonly copy = new LocalCopy()
  private readonly reader: RedisClient
  private readonly now: () => number
  private lastId = '0-0'
  private lastContact = Number.NEGATIVE_INFINITY
  private loaded = false
  private connected = false
  private closed = false
  private syncing: Promise<void> | undefined
  private lastError: string | undefined
  private readonly timers: NodeJS.Timeout[] = []

  constructor(private readonly options: RedisDenylistOptions) {
    this.now = options.now ?? Date.now
    this.reader = duplicateClient(options.client)
    for (const client of [options.client, this.reader]) {
      client.on('error', (err: Error) => this.noteError(err))
    }
    this.reader.on('ready', () => this.onReady())
    this.reader.on('close', () => this.onClose())
  }

  /** Connects and loads; a Redis that is down leaves the gate not ready, retrying meanwhile. */
  async start(): Promise<void> {
    const { client } = this.options
    await Promise.allSettled([ensureConnected(client), ensureConnected(this.reader)])
    await this.resync()
    void this.follow()

    const sweep = setInterval(() => this.copy.sweep(this.now()), 60_000)
    const resync = setInterval(() => void this.resync(), this.options.resyncEveryMs ?? 300_000)
    for (const timer of [sweep, resync]) {
      timer.unref()
      this.timers.push(timer)
    }
  }

  isRevoked(token: RevocationSubject, now: number): boolean {
    return this.copy.isRevoked(token, now)
  }

  fresh(now: number): boolean {
    const { maxStale } = this.options
    return maxStale === 0 || (this.loaded && now - this.lastContact <= maxStale * 1000)
  }

  async revokeToken(jti: string, exp: number, by: RevocationActor): Promise<void> {
    await this.record(tokenRevocation(jti, exp, this.options), by)
  }

  async revokeSubject(sub: string, before: number, by: RevocationActor): Promise<void> {
    await this.record(subjectRevocation(sub, before, this.options), by)
  }

  list(now: number): Revocation[] {
    return this.copy.list(now)
  }

  status(now: number): DenylistStatus {
    const fresh = this.fresh(now)
    const age = Number.isFinite(this.lastContact) ? (now - this.lastContact) / 1000 : -1
    const reason = this.loaded
      ? `no contact with Redis for ${Math.round(age)} s (${this.lastError ?? 'no error'})`
      : `denylist not loaded from Redis yet (${this.lastError ?? 'connecting'})`
    return {
      store: 'redis',
      fresh,
      connected: this.connected,
      entries: this.copy.size,
      syncAgeSeconds: Math.round(age),
      ...(fresh && this.connected ? {} : { reason }),
    }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const timer of this.timers) clearInterval(timer)
    this.reader.disconnect()
    await this.options.client.quit().catch(() => this.options.client.disconnect())
  }

  /** Writes to Redis first: a revocation the shared store did not take must fail loudly. */
  private async record(entry: Revocation, by: RevocationActor): Promise<void> {
    const key = `${PREFIX}:e:${entry.kind}:${entry.id}`

    // The CLI records without start(): connect on first use.
    await ensureConnected(this.options.client)
    const stored = (await this.options.client.eval(
      RECORD,
      2,
      key,
      STREAM,
      JSON.stringify(entry),
      STREAM_MAX,
    )) as string
    this.copy.apply(JSON.parse(stored) as Revocation)
    this.options.logger.info({ ...describe(entry), by: by.actor }, 'revoked')
  }

  /** Reads every live entry into the copy, then follows the stream from where the scan began. */
  private resync(): Promise<void> {
    this.syncing ??= this.loadAll()
      .catch((err: Error) => this.noteError(err))
      .finally(() => {
        this.syncing = undefined
      })
    return this.syncing
  }

  private async loadAll(): Promise<void> {
    const started = this.now()
    const newest = (await this.options.client.xrevrange(STREAM, '+', '-', 'COUNT', 1))[0]
    let entries = 0
    for (const node of dataNodes(this.options.client)) {
      entries += await this.loadNode(node)
    }

    // Changes made during the scan are in the stream after `newest`, so nothing falls between.
    if (newest && compareIds(newest[0], this.lastId) > 0 && !this.loaded) this.lastId = newest[0]
    this.loaded = true
    this.lastContact = started
    this.options.logger.debug({ entries, ms: this.now() - started }, 'denylist synchronised')
  }

  private async loadNode(node: ReturnType<typeof dataNodes>[number]): Promise<number> {
    let cursor = '0'
    let count = 0
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${PREFIX}:e:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length === 0) continue
      const values = await node.mget(...keys)
      for (const value of values) {
        if (value) this.applyJSON(value)
        count++
      }
    } while (cursor !== '0')
    return count
  }

  /** Blocks on the change stream; each answer, news or not, proves contact with Redis. */
  private async follow(): Promise<void> {
    const blockMs = this.options.blockMs ?? 2_000
    while (!this.closed) {
      try {
        const reply = (await this.reader.xread(
          'COUNT',
          1000,
          'BLOCK',
          blockMs,
          'STREAMS',
          STREAM,
          this.lastId,
        )) as StreamReply
        this.lastContact = this.now()
        for (const [, records] of reply ?? []) {
          for (const [id, fields] of records) {
            this.lastId = id
            if (fields[0] === 'e' && fields[1]) this.applyJSON(fields[1])
          }
        }
      } catch (err) {
        this.noteError(err as Error)
        if (!this.closed) await sleep(250)
      }
    }
  }

  private applyJSON(json: string): void {
    try {
      const entry = JSON.parse(json) as Revocation
      if ((entry.kind === 'jti' || entry.kind === 'sub') && typeof entry.id === 'string') {
        this.copy.apply(entry)
      }
    } catch {
      this.options.logger.warn('skipped a malformed denylist entry in Redis')
    }
  }

  private onReady(): void {
    if (this.connected) return
    this.connected = true

    // Changes missed while away may have been trimmed from the stream: reload everything.
    if (this.loaded) this.options.logger.info('Redis reachable again; resynchronising the denylist')
    void this.resync()
  }

  private onClose(): void {
    if (!this.connected || this.closed) return
    this.connected = false
    this.options.logger.warn('Redis unreachable; serving from the local denylist copy')
  }

  private noteError(err: Error): void {
    const message = err.message.split('\n')[0] ?? 'error'
    if (message !== this.lastError) this.options.logger.warn({ reason: message }, 'Redis error')
    this.lastError = message
  }
}

/** Orders two stream ids (`ms-seq`). */
function compareIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number)
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number)
  return aMs - bMs || aSeq - bSeq
}
