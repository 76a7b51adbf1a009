import { afterAll, beforeAll, expect, it } from 'vitest'

import { spawnSync } from 'node:child_process'

import { REPO_ROOT, startGate } from '../helpers/gate.js'
import { startJWKSServer } from '../helpers/jwks-server.js'
import { startRedis } from '../helpers/redis.js'
import { describeWithBinary } from '../helpers/requirements.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'
import { createSigningKey, jwks, signToken } from '../helpers/tokens.js'
import type { Gate } from '../helpers/gate.js'
import type { JWKSServer } from '../helpers/jwks-server.js'
import type { RedisServer } from '../helpers/redis.js'
import type { TcpProxy } from '../helpers/tcp-proxy.js'
import type { SigningKey } from '../helpers/tokens.js'

const ISSUER = 'https://idp.test'

describeWithBinary('redis-server', 'revocation across replicas', (binary) => {
  let redis: RedisServer
  let proxy: TcpProxy
  let idp: JWKSServer
  let key: SigningKey
  let direct: Gate
  let proxied: Gate

  const env = (redisPort: number, extra: Record<string, string> = {}) => ({
    JWTGATE_JWKS_URL: idp.url,
    JWTGATE_ISSUER: ISSUER,
    JWTGATE_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    ...extra,
  })

  beforeAll(async () => {
    redis = await startRedis(binary)
    proxy = await startTcpProxy(redis.port)
    key = await createSigningKey()
    idp = await startJWKSServer(jwks(key).keys)
    ;[direct, proxied] = await Promise.all([startGate(env(redis.port)), startGate(env(proxy.port))])
  })
  afterAll(async () => {
    await Promise.all([direct?.stop(), proxied?.stop()])
    await proxy?.close()
    await redis?.close()
    await idp?.close()
  })

  const token = (jti: string, sub = 'u-1') =>
    signToken(key, { iss: ISSUER, aud: 'grafana', sub, jti })

  const status = async (gate: Gate, bearer: string, path = '/auth') =>
    (await fetch(`${gate.url}${path}`, { headers: { authorization: `Bearer ${bearer}` } })).status

  const revoke = (...args: string[]) => {
    const result = spawnSync(process.execPath, ['bin/jwtgate.js', 'revoke', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, JWTGATE_REDIS_URL: redis.url, JWTGATE_LOG_LEVEL: 'warn' },
      encoding: 'utf8',
    })
    expect(result.status, result.stderr).toBe(0)
  }

  /** Milliseconds until `gate` refuses `bearer`, polling every 5 ms. */
  const refusedAfter = async (gate: Gate, bearer: string, started: number, limit: number) => {
    await expect.poll(() => status(gate, bearer), { timeout: limit, interval: 5 }).toBe(401)
    return Date.now() - started
  }

  it('honours a revocation on every replica within a second', async () => {
    const bearer = await token('jti-1')
    expect([await status(direct, bearer), await status(proxied, bearer)]).toEqual([200, 200])

    revoke('--jti', 'jti-1')
    const revokedAt = Date.now()
    const delays = await Promise.all([
      refusedAfter(direct, bearer, revokedAt, 1_000),
      refusedAfter(proxied, bearer, revokedAt, 1_000),
    ])
    console.log(`revocation reached both replicas after ${Math.max(...delays)} ms`)
  })

  it('refuses every older token of a revoked subject', async () => {
    const bearer = await token('jti-2', 'leaver')
    expect(await status(direct, bearer)).toBe(200)
    revoke('--sub', 'leaver')
    await refusedAfter(proxied, bearer, Date.now(), 1_000)
    await refusedAfter(direct, bearer, Date.now(), 1_000)
  })

  it('brings a replica that was cut off up to date when it reconnects', async () => {
    const bearer = await token('jti-3')
    proxy.cut()
    revoke('--jti', 'jti-3')
    await refusedAfter(direct, bearer, Date.now(), 1_000)

    // Cut off, the replica keeps serving from its copy and says so.
    expect(await status(proxied, bearer)).toBe(200)
    const ready = await fetch(`${proxied.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(((await ready.json()) as { denylist: { connected: boolean } }).denylist.connected).toBe(
      false,
    )

    proxy.heal()
    const delay = await refusedAfter(proxied, bearer, Date.now(), 5_000)
    console.log(`a reconnected replica caught up after ${delay} ms`)
  })

  it('keeps serving through a Redis restart and follows revocations after it', async () => {
    const before = await token('jti-4')
    await redis.stop()
    expect(await status(direct, before)).toBe(200)
    await redis.restart()

    const after = await token('jti-5')
    revoke('--jti', 'jti-5')
    await refusedAfter(direct, after, Date.now(), 5_000)
    await refusedAfter(proxied, after, Date.now(), 5_000)
  })

  it('fails closed once the copy is older than JWTGATE_DENYLIST_MAX_STALE', async () => {
    const strict = await startGate(env(redis.port, { JWTGATE_DENYLIST_MAX_STALE: '2' }))
    try {
      const bearer = await token('jti-6')
      expect(await status(strict, bearer)).toBe(200)
      await redis.stop()
      await expect.poll(() => status(strict, bearer), { timeout: 6_000 }).toBe(503)
      expect((await fetch(`${strict.url}/readyz`)).status).toBe(503)
      expect((await fetch(`${strict.url}/healthz`)).status).toBe(200)

      await redis.restart()
      await expect.poll(() => status(strict, bearer), { timeout: 6_000 }).toBe(200)
    } finally {
      await strict.stop()
    }
  })
})
