import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'

import { setTimeout as sleep } from 'node:timers/promises'

import { readMetric, startInProcessGate } from '../../helpers/in-process-gate.js'
import { startJWKSServer } from '../../helpers/jwks-server.js'
import { createSigningKey, jwks, signToken } from '../../helpers/tokens.js'

import type { InProcessGate } from '../../helpers/in-process-gate.js'
import type { JWKSServer } from '../../helpers/jwks-server.js'
import type { SigningKey } from '../../helpers/tokens.js'

const ISSUER = 'https://idp.test'
const CLAIMS = { iss: ISSUER, aud: 'grafana', sub: 'alice', preferred_username: 'alice' }

let a: SigningKey
let b: SigningKey
let idp: JWKSServer
let gate: InProcessGate

beforeAll(async () => {
  ;[a, b] = await Promise.all([createSigningKey('RS256'), createSigningKey('RS256')])
})

afterEach(async () => {
  await gate?.close()
  await idp?.close()
})

/** A JWKS server serving `keys` and a gate trusting it, with `env` on top of the defaults. */
async function start(keys: SigningKey[], env: Record<string, string> = {}): Promise<void> {
  idp = await startJWKSServer(jwks(...keys).keys)
  gate = await startInProcessGate({
    JWTGATE_JWKS_URL: idp.url,
    JWTGATE_ISSUER: ISSUER,
    JWTGATE_AUDIENCE: 'grafana',
    ...env,
  })
}

function bearer(token: string): Promise<Response> {
  return fetch(`${gate.url}/auth`, { headers: { authorization: `Bearer ${token}` } })
}

const lookups = (result: 'hit' | 'miss' | 'shared') =>
  readMetric(gate.url, 'jwtgate_verify_cache_total', { result })

/** Sleeps until the wall clock has passed `epochSeconds` by `marginMs`. */
async function sleepPast(epochSeconds: number, marginMs = 150): Promise<void> {
  await sleep(Math.max(0, epochSeconds * 1000 - Date.now()) + marginMs)
}

describe('the verification cache', () => {
  it('verifies a repeated token once and answers the rest from the cache', async () => {
    await start([a])
    const token = await signToken(a, CLAIMS)
    for (let i = 0; i < 5; i++) {
      const response = await bearer(token)
      expect(response.status).toBe(200)
      expect(response.headers.get('x-webauth-user')).toBe('alice')
    }
    expect(await lookups('miss')).toBe(1)
    expect(await lookups('hit')).toBe(4)
  })

  it('shares one verification among 20 concurrent requests with one new token', async () => {
    await start([a])
    const token = await signToken(a, CLAIMS)
    const responses = await Promise.all(Array.from({ length: 20 }, () => bearer(token)))
    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200))
    expect(await lookups('miss')).toBe(1)
    expect((await lookups('shared')) + (await lookups('hit'))).toBe(19)
  })

  it('rejects a cached token whose kid left the JWKS after the next fetch', async () => {
    await start([a], { JWTGATE_JWKS_COOLDOWN: '1' })
    const old = await signToken(a, CLAIMS)
    expect((await bearer(old)).status).toBe(200)
    expect((await bearer(old)).status).toBe(200)
    expect(await lookups('hit')).toBe(1)

    idp.setKeys(jwks(b).keys)
    await sleep(1_100)
    const requests = idp.requests
    expect((await bearer(await signToken(b, CLAIMS))).status).toBe(200)
    expect(idp.requests).toBe(requests + 1)

    const response = await bearer(old)
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"')
    expect(response.headers.get('x-webauth-user')).toBeNull()
  })

  it('stops accepting a cached token at exp when the tolerance is 0', async () => {
    await start([a], { JWTGATE_CLOCK_TOLERANCE: '0' })
    const exp = Math.floor(Date.now() / 1000) + 2
    const token = await signToken(a, { ...CLAIMS, exp })
    expect((await bearer(token)).status).toBe(200)
    expect((await bearer(token)).status).toBe(200)
    expect(await lookups('hit')).toBe(1)

    await sleepPast(exp)
    const response = await bearer(token)
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"')
  })

  it('stops accepting a cached token at exp + tolerance, not before', async () => {
    await start([a], { JWTGATE_CLOCK_TOLERANCE: '1' })
    const exp = Math.floor(Date.now() / 1000) + 1
    const token = await signToken(a, { ...CLAIMS, exp })
    expect((await bearer(token)).status).toBe(200)

    await sleepPast(exp, 100)
    expect((await bearer(token)).status).toBe(200)
    await sleepPast(exp + 1)
    expect((await bearer(token)).status).toBe(401)
  })

  it('answers 503 even for a cached token once the JWKS is down past the max stale', async () => {
    await start([a], {
      JWTGATE_JWKS_MAX_AGE: '1',
      JWTGATE_JWKS_COOLDOWN: '1',
      JWTGATE_JWKS_MAX_STALE: '1',
    })
    const token = await signToken(a, CLAIMS)
    expect((await bearer(token)).status).toBe(200)
    expect((await bearer(token)).status).toBe(200)
    expect(await lookups('hit')).toBe(1)

    await idp.setMode('down')
    await vi.waitFor(async () => expect((await fetch(`${gate.url}/readyz`)).status).toBe(503), {
      timeout: 6_000,
      interval: 100,
    })
    const response = await bearer(token)
    expect(response.status).toBe(503)
    expect(response.headers.get('x-webauth-user')).toBeNull()

    const ready = await fetch(`${gate.url}/readyz`)
    expect(ready.status).toBe(503)
    const body = (await ready.json()) as { issuers: { ready: boolean; reason?: string }[] }
    expect(body.issuers).toEqual([
      expect.objectContaining({ ready: false, reason: expect.any(String) }),
    ])
  })

  it('serves a cached token again once the JWKS is back', async () => {
    await start([a], {
      JWTGATE_JWKS_MAX_AGE: '1',
      JWTGATE_JWKS_COOLDOWN: '1',
      JWTGATE_JWKS_MAX_STALE: '1',
    })
    const token = await signToken(a, CLAIMS)
    expect((await bearer(token)).status).toBe(200)
    await idp.setMode('down')
    await vi.waitFor(async () => expect((await bearer(token)).status).toBe(503), {
      timeout: 6_000,
      interval: 100,
    })
    await idp.setMode('ok')
    await vi.waitFor(async () => expect((await bearer(token)).status).toBe(200), {
      timeout: 4_000,
      interval: 100,
    })
  })

  it('accepts a token once its iat is no longer ahead of the clock', async () => {
    await start([a], { JWTGATE_CLOCK_TOLERANCE: '0' })
    const iat = Math.floor(Date.now() / 1000) + 2
    const token = await signToken(a, { ...CLAIMS, iat, exp: iat + 600 })
    expect((await bearer(token)).status).toBe(401)

    await sleepPast(iat)
    expect((await bearer(token)).status).toBe(200)
  })

  it('does not let a refused token poison the cache for a valid one', async () => {
    await start([a])
    const valid = await signToken(a, CLAIMS)
    const [head, payload] = valid.split('.')
    const forged = `${head}.${payload}.${Buffer.from('x'.repeat(256)).toString('base64url')}`
    expect((await bearer(forged)).status).toBe(401)
    expect((await bearer(forged)).status).toBe(401)
    expect((await bearer(valid)).status).toBe(200)
  })
})
