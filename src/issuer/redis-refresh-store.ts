import { ensureConnected } from '../denylist/index.js'
import type { RedisClient } from '../denylist/index.js'
import type { ConsumeResult, RefreshRecord, RefreshStore } from './refresh-store.js'

/** One hash tag for every key, so a Redis Cluster keeps them in one slot for the scripts. */
const PREFIX = '{jwtgate}:rt'

/** Marks a token used and reports what it was; atomic, so one of two racing uses wins. */
const CONSUME = `
local raw = redis.call('GET', KEYS[1])
if not raw then return nil end
local stored = cjson.decode(raw)
if stored['usedAt'] then return {'reused', raw} end
stored['usedAt'] = tonumber(ARGV[1])
redis.call('SET', KEYS[1], cjson.encode(stored), 'KEEPTTL')
return {'fresh', raw}
`

const SET_SUCCESSOR = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local stored = cjson.decode(raw)
stored['successor'] = ARGV[1]
redis.call('SET', KEYS[1], cjson.encode(stored), 'KEEPTTL')
return 1
`

const END_FAMILY = `
redis.call('SET', KEYS[1], '1', 'EXAT', ARGV[1])
local minted = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
return minted
`

interface StoredToken {
  record: RefreshRecord
  usedAt?: number
  successor?: string
}

/** Refresh tokens shared by every replica through Redis; every key expires with its content. */
export class RedisRefreshStore implements RefreshStore {
  constructor(private readonly client: RedisClient) {}

  async save(id: string, record: RefreshRecord): Promise<void> {
    await this.connected()
    const stored: StoredToken = { record }
    await this.client.set(tokenKey(id), JSON.stringify(stored), 'EXAT', record.exp)
  }

  async consume(id: string, now: number): Promise<ConsumeResult> {
    await this.connected()
    const reply = (await this.client.eval(CONSUME, 1, tokenKey(id), now)) as [string, string] | null
    if (!reply) return { status: 'unknown' }
    const stored = JSON.parse(reply[1]) as StoredToken
    if (stored.record.exp <= now) return { status: 'unknown' }
    if (reply[0] === 'fresh') return { status: 'fresh', record: stored.record }
    return {
      status: 'reused',
      record: stored.record,
      usedAt: stored.usedAt ?? now,
      successor: stored.successor,
    }
  }

  async setSuccessor(id: string, sealed: string): Promise<void> {
    await this.client.eval(SET_SUCCESSOR, 1, tokenKey(id), sealed)
  }

  async peek(id: string): Promise<RefreshRecord | undefined> {
    await this.connected()
    const raw = await this.client.get(tokenKey(id))
    return raw ? (JSON.parse(raw) as StoredToken).record : undefined
  }

  async addFamilyToken(family: string, jti: string, exp: number): Promise<void> {
    const key = `${PREFIX}:j:${family}`
    await this.client.multi().rpush(key, `${exp} ${jti}`).expireat(key, exp, 'GT').exec()

    // EXPIREAT GT leaves a key without a TTL alone, so the first push sets it here.
    if ((await this.client.ttl(key)) < 0) await this.client.expireat(key, exp)
  }

  async endFamily(family: string, until: number): Promise<{ jti: string; exp: number }[]> {
    await this.connected()
    const endKey = `${PREFIX}:end:${family}`
    const listKey = `${PREFIX}:j:${family}`
    const minted = (await this.client.eval(END_FAMILY, 2, endKey, listKey, until)) as string[]
    return minted.map((item) => {
      const space = item.indexOf(' ')
      return { exp: Number(item.slice(0, space)), jti: item.slice(space + 1) }
    })
  }

  async familyEnded(family: string): Promise<boolean> {
    await this.connected()
    return (await this.client.exists(`${PREFIX}:end:${family}`)) === 1
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect())
  }

  private connected(): Promise<void> {
    return ensureConnected(this.client)
  }
}

function tokenKey(id: string): string {
  return `${PREFIX}:t:${id}`
}
