import { exportJWK } from 'jose'
import { pino } from 'pino'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'

import { createServer } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'

import { KeySet } from '../../../src/keys/key-set.js'
import { RemoteJWKS } from '../../../src/keys/remote-jwks.js'
import { startJWKSServer } from '../../helpers/jwks-server.js'
import { freePort } from '../../helpers/ports.js'
import { createSigningKey, jwks } from '../../helpers/tokens.js'

import type { FetchOutcome, RemoteJWKSOptions } from '../../../src/keys/remote-jwks.js'
import type { JWKSMode, JWKSServer } from '../../helpers/jwks-server.js'
import type { SigningKey } from '../../helpers/tokens.js'
import type { JWK } from 'jose'

const logger = pino({ level: 'silent' })

/** A clock the test moves by hand; starts at a fixed instant. */
function manualClock(start = 1_700_000_000_000) {
  let now = start
  return {
    now: () => now,
    advance: (seconds: number) => {
      now += seconds * 1000
    },
  }
}

let a: SigningKey
let b: SigningKey
let ec: SigningKey
const cleanups: (() => unknown)[] = []

beforeAll(async () => {
  ;[a, b, ec] = await Promise.all([
    createSigningKey('RS256'),
    createSigningKey('RS256'),
    createSigningKey('ES256'),
  ])
})

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function server(keys: JWK[] = jwks(a, b).keys): Promise<JWKSServer> {
  const started = await startJWKSServer(keys)
  cleanups.push(() => started.close())
  return started
}

/** A RemoteJWKS with long timers (nothing fires by itself during a test) and an outcome log. */
function remote(url: string | string[], options: Partial<RemoteJWKSOptions> = {}) {
  const outcomes: FetchOutcome[] = []
  const keys = new RemoteJWKS({
    issuer: 'https://idp.test',
    urls: typeof url === 'string' ? [url] : url,
    algorithms: ['RS256'],
    maxAge: 60,
    cooldown: 10,
    maxStale: 60,
    timeout: 2,
    logger,
    onFetch: (outcome) => outcomes.push(outcome),
    ...options,
  })
  cleanups.push(() => keys.close())
  return { keys, outcomes }
}

describe('RemoteJWKS fetching', () => {
  it('loads the keys on the first fetch', async () => {
    const idp = await server()
    const { keys, outcomes } = remote(idp.url)
    await keys.start()
    expect(idp.requests).toBe(1)
    expect(outcomes).toEqual(['ok'])
    expect((await keys.getKey(a.kid, 'RS256')).id).toBe(a.kid)
    expect(keys.hasKid(b.kid)).toBe(true)
    expect(keys.status(Date.now())).toMatchObject({ ready: true, keys: 2 })
  })

  it('fetches on demand when no set was loaded yet', async () => {
    const idp = await server()
    const { keys } = remote(idp.url)
    expect(keys.status(Date.now())).toMatchObject({ ready: false, ageSeconds: -1 })
    expect((await keys.getKey(a.kid, 'RS256')).id).toBe(a.kid)
    expect(idp.requests).toBe(1)
  })

  it('shares one fetch among 20 concurrent first requests', async () => {
    const idp = await server()
    const { keys } = remote(idp.url)
    const found = await Promise.all(Array.from({ length: 20 }, () => keys.getKey(a.kid, 'RS256')))
    expect(found.map((key) => key.id)).toEqual(Array(20).fill(a.kid))
    expect(idp.requests).toBe(1)
  })

  it('shares one refetch among 20 concurrent misses of unknown kids', async () => {
    const idp = await server()
    const clock = manualClock()
    const { keys } = remote(idp.url, { now: clock.now })
    await keys.start()
    clock.advance(11)
    const kids = Array.from({ length: 20 }, (_, i) => `unknown-${i}`)
    const results = await Promise.allSettled(kids.map((kid) => keys.getKey(kid, 'RS256')))
    for (const result of results) {
      expect(result).toMatchObject({ status: 'rejected', reason: { code: 'ERR_KEY_UNKNOWN' } })
    }
    expect(idp.requests).toBe(2)
  })

  it('refetches for an unknown kid at most once per cooldown', async () => {
    const idp = await server()
    const clock = manualClock()
    const { keys } = remote(idp.url, { now: clock.now })
    await keys.start()

    await expect(keys.getKey('early', 'RS256')).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' })
    expect(idp.requests).toBe(1)

    clock.advance(10)
    await expect(keys.getKey('first', 'RS256')).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' })
    expect(idp.requests).toBe(2)
    await expect(keys.getKey('second', 'RS256')).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' })
    clock.advance(9)
    await expect(keys.getKey('third', 'RS256')).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' })
    expect(idp.requests).toBe(2)
  })

  it('finds a key published after start once the cooldown allows a refetch', async () => {
    const idp = await server(jwks(a).keys)
    const clock = manualClock()
    const { keys } = remote(idp.url, { now: clock.now })
    await keys.start()
    idp.setKeys(jwks(a, b).keys)
    clock.advance(10)
    expect((await keys.getKey(b.kid, 'RS256')).id).toBe(b.kid)
    expect(idp.requests).toBe(2)
  })

  it('remembers a missing kid and schedules no fetch for it within the cooldown', async () => {
    const idp = await server()
    const { keys } = remote(idp.url, { cooldown: 1 })
    await keys.start()
    await sleep(1_050)
    await expect(keys.getKey('ghost', 'RS256')).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' })
    expect(idp.requests).toBe(2)

    for (let i = 0; i < 5; i++) {
      await expect(keys.getKey('ghost', 'RS256')).rejects.toMatchObject({
        code: 'ERR_KEY_UNKNOWN',
      })
    }
    await sleep(1_300)
    expect(idp.requests).toBe(2)
  })

  it('refreshes in the background before maxAge ends, without any request', async () => {
    const idp = await server(jwks(a).keys)
    const { keys, outcomes } = remote(idp.url, { maxAge: 2, cooldown: 1 })
    await keys.start()
    const loaded = Date.now()
    idp.setKeys(jwks(b).keys)

    await vi.waitFor(() => expect(idp.requests).toBe(2), { timeout: 3_000, interval: 20 })
    expect(Date.now() - loaded).toBeLessThan(2_000)
    await vi.waitFor(() => expect(keys.hasKid(b.kid)).toBe(true), { timeout: 500 })
    expect(keys.hasKid(a.kid)).toBe(false)
    expect(outcomes).toEqual(['ok', 'ok'])
  })
})

describe('RemoteJWKS through an outage', () => {
  it.each<JWKSMode>(['down', 'garbage', 'empty', 'refuse'])(
    'keeps the last good keys while the JWKS is %s, for maxStale only',
    async (mode) => {
      const idp = await server()
      const clock = manualClock()
      const { keys, outcomes } = remote(idp.url, { now: clock.now, maxAge: 60, maxStale: 30 })
      await keys.start()
      await idp.setMode(mode)

      clock.advance(80) // past maxAge, within maxAge + maxStale
      await expect(keys.getKey('new', 'RS256')).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' })
      expect(outcomes).toEqual(['ok', 'error'])
      expect((await keys.getKey(a.kid, 'RS256')).id).toBe(a.kid)
      expect(keys.status(clock.now())).toMatchObject({ ready: true, keys: 2 })

      clock.advance(11) // past maxAge + maxStale
      await expect(keys.getKey(a.kid, 'RS256')).rejects.toMatchObject({
        code: 'ERR_KEYS_UNAVAILABLE',
      })
      expect(keys.usable(clock.now())).toBe(false)
      const status = keys.status(clock.now())
      expect(status.ready).toBe(false)
      expect(status.reason).toEqual(expect.any(String))
    },
  )

  it('recovers once the JWKS answers again after going stale', async () => {
    const idp = await server()
    const clock = manualClock()
    const { keys } = remote(idp.url, { now: clock.now, maxAge: 60, maxStale: 30 })
    await keys.start()
    await idp.setMode('down')
    clock.advance(100)
    await expect(keys.getKey(a.kid, 'RS256')).rejects.toMatchObject({
      code: 'ERR_KEYS_UNAVAILABLE',
    })
    await idp.setMode('ok')
    clock.advance(10)
    expect((await keys.getKey(a.kid, 'RS256')).id).toBe(a.kid)
    expect(keys.status(clock.now()).ready).toBe(true)
  })

  it('counts a server slower than the timeout as a failed fetch', async () => {
    const idp = await server()
    await idp.setMode('slow', 1_500)
    const { keys, outcomes } = remote(idp.url, { timeout: 0.2 })
    const started = Date.now()
    await expect(keys.getKey(a.kid, 'RS256')).rejects.toMatchObject({
      code: 'ERR_KEYS_UNAVAILABLE',
    })
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(outcomes).toEqual(['error'])
    expect(keys.status(Date.now())).toMatchObject({ ready: false, reason: expect.any(String) })
  })

  it('counts a body that stalls past the timeout as a failed fetch', async () => {
    const url = await stallingServer(JSON.stringify(jwks(a)).slice(0, 40))
    const { keys, outcomes } = remote(url, { timeout: 0.3 })
    const started = Date.now()
    const attempt = keys.start().then(() => 'ended')
    expect(await Promise.race([attempt, sleep(3_000).then(() => 'hung')])).toBe('ended')
    expect(Date.now() - started).toBeLessThan(1_500)
    expect(outcomes).toEqual(['error'])
    expect(keys.status(Date.now()).ready).toBe(false)
  })

  it('counts a JWKS larger than maxBytes as a failed fetch', async () => {
    const idp = await server()
    const { keys, outcomes } = remote(idp.url, { maxBytes: 200 })
    await keys.start()
    expect(outcomes).toEqual(['error'])
    await expect(keys.getKey(a.kid, 'RS256')).rejects.toMatchObject({
      code: 'ERR_KEYS_UNAVAILABLE',
    })
  })

  it('counts a chunked body growing past maxBytes as a failed fetch', async () => {
    const url = await chunkedServer(JSON.stringify(jwks(a)), 64 * 1024)
    const { keys, outcomes } = remote(url, { maxBytes: 16 * 1024 })
    await keys.start()
    expect(outcomes).toEqual(['error'])
    expect(keys.status(Date.now()).ready).toBe(false)
  })

  it('fails the whole fetch when one of several URLs fails, keeping the last good set', async () => {
    const first = await server(jwks(a).keys)
    const second = await server(jwks(b).keys)
    const clock = manualClock()
    const { keys, outcomes } = remote([first.url, second.url], { now: clock.now })
    await keys.start()
    await second.setMode('down')
    clock.advance(10)
    await expect(keys.getKey('new', 'RS256')).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' })
    expect(outcomes).toEqual(['ok', 'error'])
    expect(keys.hasKid(a.kid) && keys.hasKid(b.kid)).toBe(true)
  })
})

describe('RemoteJWKS key removal', () => {
  it('tells onRemoved listeners the id of a key that left the JWKS and stops resolving it', async () => {
    const idp = await server(jwks(a, b).keys)
    const clock = manualClock()
    const { keys } = remote(idp.url, { now: clock.now })
    const removed: string[][] = []
    keys.onRemoved((ids) => removed.push(ids))
    await keys.start()

    idp.setKeys(jwks(b).keys)
    clock.advance(10)
    await expect(keys.getKey('trigger', 'RS256')).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' })
    expect(removed).toEqual([[a.kid]])
    expect(keys.hasKid(a.kid)).toBe(false)
    await expect(keys.getKey(a.kid, 'RS256')).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' })
    expect((await keys.getKey(b.kid, 'RS256')).id).toBe(b.kid)
  })

  it('calls no listener when a refetch brings the same keys', async () => {
    const idp = await server()
    const clock = manualClock()
    const { keys } = remote(idp.url, { now: clock.now })
    const listener = vi.fn()
    keys.onRemoved(listener)
    await keys.start()
    clock.advance(10)
    await expect(keys.getKey('trigger', 'RS256')).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' })
    expect(idp.requests).toBe(2)
    expect(listener).not.toHaveBeenCalled()
  })
})

describe('which served keys are used', () => {
  it.each([
    ['RSA', () => createSigningKey('RS256'), ['RS256']],
    ['EC', () => createSigningKey('ES256'), ['ES256']],
    ['OKP', () => createSigningKey('EdDSA'), ['EdDSA']],
  ])('drops the private members of a served %s JWK', async (_, create, algorithms) => {
    const key = await create()
    const privateJwk = { ...(await exportJWK(key.privateKey)), kid: key.kid, use: 'sig' }
    expect(privateJwk.d).toBeDefined()

    const [published] = (await KeySet.fromJWKS([{ keys: [privateJwk] }], algorithms)).publicJWKs()
    expect(published).toBeDefined()
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) {
      expect(published).not.toHaveProperty(member)
    }
  })

  it('resolves a key served with private members to a public key', async () => {
    const privateJwk = { ...(await exportJWK(a.privateKey)), kid: a.kid, alg: 'RS256' }
    const idp = await server([privateJwk])
    const { keys } = remote(idp.url)
    const resolved = await keys.getKey(a.kid, 'RS256')
    expect(((await resolved.key) as { type: string }).type).toBe('public')
  })

  it.each<[string, () => JWK, string]>([
    ['use is enc', () => ({ ...b.publicJwk, kid: 'enc', use: 'enc' }), 'RS256'],
    ['key_ops lacks verify', () => ({ ...b.publicJwk, kid: 'ops', key_ops: ['encrypt'] }), 'RS256'],
    [
      'an EC key is asked for RS256',
      () => ({ ...ec.publicJwk, kid: 'ec', alg: undefined }),
      'RS256',
    ],
    ['an RSA key is labelled ES256', () => ({ ...b.publicJwk, kid: 'lbl', alg: 'ES256' }), 'ES256'],
    [
      'an RSA key is asked for ES256',
      () => ({ ...b.publicJwk, kid: 'rs', alg: undefined }),
      'ES256',
    ],
    [
      'a P-256 key is asked for ES384',
      () => ({ ...ec.publicJwk, kid: 'crv', alg: undefined }),
      'ES384',
    ],
    ['an RS256 key is asked for PS256', () => ({ ...b.publicJwk, kid: 'pss' }), 'PS256'],
    ['its kty is oct', () => ({ kty: 'oct', k: 'c2VjcmV0', kid: 'oct' }), 'RS256'],
  ])('does not use a key when %s', async (_, jwk, alg) => {
    const idp = await server([a.publicJwk, jwk()])
    const { keys, outcomes } = remote(idp.url, {
      algorithms: ['RS256', 'PS256', 'ES256', 'ES384'],
    })
    await keys.start()
    expect(outcomes).toEqual(['ok'])
    await expect(keys.getKey(jwk().kid, alg)).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' })
    expect(keys.hasKid(a.kid)).toBe(true)
  })

  it('treats a JWKS holding only unusable keys as a failed fetch', async () => {
    const idp = await server([{ ...a.publicJwk, use: 'enc' }, ec.publicJwk])
    const { keys, outcomes } = remote(idp.url)
    await keys.start()
    expect(outcomes).toEqual(['error'])
    expect(keys.status(Date.now())).toMatchObject({ ready: false, keys: 0 })
  })

  it.each([
    ['empty', ''],
    ['longer than any real kid', 'k'.repeat(10_000)],
  ])('refuses a kid that is %s without fetching', async (_, kid) => {
    const idp = await server()
    const clock = manualClock()
    const { keys } = remote(idp.url, { now: clock.now })
    await keys.start()
    clock.advance(10)
    await expect(keys.getKey(kid, 'RS256')).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' })
    expect(idp.requests).toBe(1)
  })
})

/** Serves `body` as a chunked response padded with whitespace to `size` bytes. */
async function chunkedServer(body: string, size: number): Promise<string> {
  const port = await freePort()
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write(body)
    for (let sent = body.length; sent < size; sent += 1024) res.write(' '.repeat(1024))
    res.end()
  })
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve))
  cleanups.push(() => new Promise((resolve) => http.close(resolve)))
  return `http://127.0.0.1:${port}/jwks.json`
}

/** Sends the headers and the start of `body`, then nothing more until the test ends. */
async function stallingServer(start: string): Promise<string> {
  const port = await freePort()
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' })
    res.write(start)
  })
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve))
  cleanups.push(() => {
    http.closeAllConnections()
    return new Promise((resolve) => http.close(resolve))
  })
  return `http://127.0.0.1:${port}/jwks.json`
}
