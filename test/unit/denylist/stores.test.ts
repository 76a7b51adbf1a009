import { Redis } from 'ioredis'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

import { appendFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { MemoryDenylist, RedisDenylist, createRedisClient } from '../../../src/denylist/index.js'
import { startRedis } from '../../helpers/redis.js'
import { describeWithBinary } from '../../helpers/requirements.js'
import type { Denylist } from '../../../src/denylist/index.js'
import type { RedisServer } from '../../helpers/redis.js'

const logger = pino({ level: 'silent' })
const times = { clockTolerance: 30, maxTokenLifetime: 3600 }
const by = { actor: 'test' }
const NOW = 1_800_000_000
const at = (seconds: number) => seconds * 1000

type Factory = () => Promise<Denylist>

function behavesAsDenylist(name: string, make: Factory) {
  describe(name, () => {
    const opened: Denylist[] = []
    const open = async () => {
      const denylist = await make()
      opened.push(denylist)
      return denylist
    }
    afterEach(async () => {
      for (const denylist of opened.splice(0)) await denylist.close()
    })

    it('refuses a revoked jti until its exp plus the clock tolerance', async () => {
      const denylist = await open()
      await denylist.revokeToken('t-1', NOW + 60, by)
      const token = { sub: 's', iat: NOW, jti: 't-1' }
      expect(denylist.isRevoked(token, at(NOW))).toBe(true)
      expect(denylist.isRevoked(token, at(NOW + 60 + 29))).toBe(true)
      expect(denylist.isRevoked(token, at(NOW + 60 + 30))).toBe(false)
      expect(denylist.isRevoked({ ...token, jti: 't-2' }, at(NOW))).toBe(false)
    })

    it('refuses tokens of a subject issued at or before the watermark', async () => {
      const denylist = await open()
      await denylist.revokeSubject('alice', NOW, by)
      expect(denylist.isRevoked({ sub: 'alice', iat: NOW - 10, jti: undefined }, at(NOW))).toBe(
        true,
      )
      expect(denylist.isRevoked({ sub: 'alice', iat: NOW, jti: 'x' }, at(NOW))).toBe(true)
      expect(denylist.isRevoked({ sub: 'alice', iat: NOW + 1, jti: 'x' }, at(NOW))).toBe(false)
      expect(denylist.isRevoked({ sub: 'bob', iat: NOW - 10, jti: 'x' }, at(NOW))).toBe(false)
    })

    it('refuses a token without iat once its subject has a watermark', async () => {
      const denylist = await open()
      await denylist.revokeSubject('carol', NOW, by)
      expect(denylist.isRevoked({ sub: 'carol', iat: undefined, jti: undefined }, at(NOW))).toBe(
        true,
      )
    })

    it('keeps the later watermark and expiry when revoked twice', async () => {
      const denylist = await open()
      await denylist.revokeSubject('dave', NOW, by)
      await denylist.revokeSubject('dave', NOW - 100, by)
      await denylist.revokeToken('t-3', NOW + 500, by)
      await denylist.revokeToken('t-3', NOW + 100, by)
      expect(denylist.isRevoked({ sub: 'dave', iat: NOW - 50, jti: undefined }, at(NOW))).toBe(true)
      expect(denylist.isRevoked({ sub: 'x', iat: NOW, jti: 't-3' }, at(NOW + 400))).toBe(true)
    })

    it('forgets a subject watermark once no token it covers can still be valid', async () => {
      const denylist = await open()
      await denylist.revokeSubject('erin', NOW, by)
      const token = { sub: 'erin', iat: NOW - 1, jti: undefined }
      expect(denylist.isRevoked(token, at(NOW + 3600 + 29))).toBe(true)
      expect(denylist.isRevoked(token, at(NOW + 3600 + 30))).toBe(false)
      expect(denylist.list(at(NOW + 3600 + 30)).some((e) => e.id === 'erin')).toBe(false)
    })

    it('lists its live entries', async () => {
      const denylist = await open()
      await denylist.revokeToken('t-4', NOW + 60, by)
      await denylist.revokeSubject('frank', NOW, by)
      expect(denylist.list(at(NOW))).toEqual(
        expect.arrayContaining([
          { kind: 'jti', id: 't-4', until: NOW + 90 },
          { kind: 'sub', id: 'frank', before: NOW, until: NOW + 3630 },
        ]),
      )
    })
  })
}

behavesAsDenylist('the in-memory store', async () => {
  const denylist = new MemoryDenylist({ ...times, logger })
  await denylist.start()
  return denylist
})

behavesAsDenylist('the in-memory store with a journal', async () => {
  const journal = join(mkdtempSync(join(tmpdir(), 'jwtgate-journal-')), 'denylist.jsonl')
  const denylist = new MemoryDenylist({ ...times, logger, journal })
  await denylist.start()
  return denylist
})

describe('the journal', () => {
  it('keeps revocations across a restart and picks up lines other processes append', async () => {
    const journal = join(mkdtempSync(join(tmpdir(), 'jwtgate-journal-')), 'denylist.jsonl')
    const future = Math.floor(Date.now() / 1000) + 600
    const first = new MemoryDenylist({ ...times, logger, journal })
    await first.start()
    await first.revokeToken('kept', future, by)
    await first.close()

    const second = new MemoryDenylist({ ...times, logger, journal, pollMs: 20 })
    await second.start()
    const token = { sub: 's', iat: undefined, jti: 'kept' }
    expect(second.isRevoked(token, Date.now())).toBe(true)

    appendFileSync(journal, `${JSON.stringify({ kind: 'jti', id: 'later', until: future })}\n`)
    await expect.poll(() => second.isRevoked({ ...token, jti: 'later' }, Date.now())).toBe(true)
    await second.close()
  })
})

describeWithBinary('redis-server', 'the Redis store', (binary) => {
  let redis: RedisServer
  let admin: Redis

  beforeAll(async () => {
    redis = await startRedis(binary)
    admin = new Redis(redis.url)
  })
  afterAll(async () => {
    admin?.disconnect()
    await redis?.close()
  })

  const make = async () => {
    await admin.flushall()
    const denylist = new RedisDenylist({
      ...times,
      logger,
      client: await createRedisClient(redis.url),
      maxStale: 300,
    })
    await denylist.start()
    return denylist
  }
  behavesAsDenylist('behaviour', make)

  it('stores every entry with a TTL so Redis never holds an expired one', async () => {
    const denylist = await make()
    const exp = Math.floor(Date.now() / 1000) + 120
    await denylist.revokeToken('ttl-1', exp, by)
    await denylist.revokeSubject('ttl-sub', Math.floor(Date.now() / 1000), by)
    const keys = await admin.keys('{jwtgate}:deny:e:*')
    expect(keys).toHaveLength(2)
    for (const key of keys) expect(await admin.ttl(key)).toBeGreaterThan(0)
    expect(await admin.ttl('{jwtgate}:deny:e:jti:ttl-1')).toBeLessThanOrEqual(150)
    await denylist.close()
  })

  it('passes a revocation from one replica to another within a second', async () => {
    const [a, b] = [await make(), await make()]
    const token = { sub: 's', iat: undefined, jti: 'shared' }
    const started = Date.now()
    await a.revokeToken('shared', Math.floor(started / 1000) + 600, by)
    await expect
      .poll(() => b.isRevoked(token, Date.now()), { timeout: 1_000, interval: 5 })
      .toBe(true)
    console.log(`denylist propagation between two stores: ${Date.now() - started} ms`)
    await Promise.all([a.close(), b.close()])
  })

  it('loads the entries that exist before it starts', async () => {
    const writer = await make()
    await writer.revokeSubject('early', Math.floor(Date.now() / 1000), by)
    const reader = new RedisDenylist({
      ...times,
      logger,
      client: await createRedisClient(redis.url),
      maxStale: 300,
    })
    await reader.start()
    expect(reader.isRevoked({ sub: 'early', iat: 1, jti: undefined }, Date.now())).toBe(true)
    await Promise.all([writer.close(), reader.close()])
  })
})
