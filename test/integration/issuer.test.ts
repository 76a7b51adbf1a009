import { createLocalJWKSet, jwtVerify } from 'jose'
import type { JSONWebKeySet } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { hashPassword } from '../../src/issuer/passwords.js'
import { USERS_FILE, writeUsers } from '../../src/issuer/users.js'
import { captureLogs, startInProcessGate } from '../helpers/in-process-gate.js'
import type { InProcessGate, LogCapture } from '../helpers/in-process-gate.js'

const ISSUER = 'https://auth.test'
const PASSWORD = 'correct horse battery'

let gate: InProcessGate
let logs: LogCapture
let dataDir: string

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'jwtgate-issuer-'))
  const passwordHash = await hashPassword(PASSWORD)
  writeUsers(join(dataDir, USERS_FILE), [
    {
      username: 'alice',
      passwordHash,
      email: 'alice@example.com',
      name: 'Alice',
      groups: ['ops'],
      disabled: false,
    },
    { username: 'mallory', passwordHash, groups: [], disabled: true },
    ...['u1', 'u2', 'u3', 'u4'].map((username) => ({
      username,
      passwordHash,
      groups: [],
      disabled: false,
    })),
  ])
  logs = captureLogs()
  gate = await startInProcessGate(
    { JWTGATE_DATA_DIR: dataDir, JWTGATE_ISSUER: ISSUER, JWTGATE_LOG_LEVEL: 'info' },
    { logStream: logs.stream },
  )
})
afterAll(() => gate?.close())

interface TokenAnswer {
  status: number
  body: Record<string, string | number>
  headers: Headers
}

async function token(form: Record<string, string>, ip = '203.0.113.1'): Promise<TokenAnswer> {
  const response = await fetch(`${gate.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
    body: new URLSearchParams(form),
  })
  const body = (await response.json()) as Record<string, string | number>
  return { status: response.status, body, headers: response.headers }
}

const login = (username = 'alice', password = PASSWORD, ip?: string) =>
  token({ grant_type: 'password', username, password }, ip)

const auth = async (access: string) =>
  (await fetch(`${gate.url}/auth`, { headers: { authorization: `Bearer ${access}` } })).status

const revoke = (value: string) =>
  fetch(`${gate.url}/revoke`, { method: 'POST', body: new URLSearchParams({ token: value }) })

describe('POST /token', () => {
  it('grants tokens for a password and never lets a cache keep them', async () => {
    const answer = await login()
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ token_type: 'Bearer', expires_in: 900 })
    expect(answer.headers.get('cache-control')).toBe('no-store')
    expect(await auth(String(answer.body.access_token))).toBe(200)
  })

  it('mints access tokens that verify against the published JWKS', async () => {
    const { body } = await login()
    const jwks = (await (await fetch(`${gate.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet
    const { payload, protectedHeader } = await jwtVerify(
      String(body.access_token),
      createLocalJWKSet(jwks),
      { issuer: ISSUER, audience: 'grafana', algorithms: ['RS256'] },
    )
    expect(protectedHeader.kid).toBeTruthy()
    expect(payload).toMatchObject({ sub: 'alice', preferred_username: 'alice', groups: ['ops'] })
    for (const claim of ['iat', 'nbf', 'exp', 'jti', 'sid']) expect(payload[claim]).toBeDefined()
  })

  it('answers an unknown user exactly like a wrong password', async () => {
    const wrong = await login('u1', 'not the password', '203.0.113.50')
    const unknown = await login('nobody', 'not the password', '203.0.113.51')
    const disabled = await login('mallory', PASSWORD, '203.0.113.52')
    for (const answer of [wrong, unknown, disabled]) {
      expect(answer.status).toBe(400)
      expect(answer.body).toEqual(wrong.body)
    }
    expect(wrong.body.error).toBe('invalid_grant')
  })

  it.each([
    [{ grant_type: 'client_credentials' }, 'unsupported_grant_type'],
    [{}, 'invalid_request'],
    [{ grant_type: 'password', username: 'alice' }, 'invalid_request'],
    [{ grant_type: 'refresh_token' }, 'invalid_request'],
  ])('refuses %j with %s', async (form, error) => {
    const answer = await token(form as Record<string, string>)
    expect([answer.status, answer.body.error]).toEqual([400, error])
  })

  it('rotates refresh tokens and ends the family when a spent one comes back', async () => {
    const first = (await login()).body
    const second = (
      await token({ grant_type: 'refresh_token', refresh_token: String(first.refresh_token) })
    ).body
    expect(second.refresh_token).not.toBe(first.refresh_token)
    expect(await auth(String(second.access_token))).toBe(200)

    // A replay inside the race window gets the same answer instead of an alarm.
    const raced = (
      await token({ grant_type: 'refresh_token', refresh_token: String(first.refresh_token) })
    ).body
    expect(raced.refresh_token).toBe(second.refresh_token)

    await new Promise((resolve) => setTimeout(resolve, 10_500))
    const reuse = await token({
      grant_type: 'refresh_token',
      refresh_token: String(first.refresh_token),
    })
    expect([reuse.status, reuse.body.error]).toEqual([400, 'invalid_grant'])
    const later = await token({
      grant_type: 'refresh_token',
      refresh_token: String(second.refresh_token),
    })
    expect(later.status).toBe(400)
    await expect.poll(() => auth(String(second.access_token))).toBe(401)
  }, 20_000)
})

describe('POST /revoke', () => {
  it('denies a revoked access token everywhere from then on', async () => {
    const { body } = await login()
    expect((await revoke(String(body.access_token))).status).toBe(200)
    expect(await auth(String(body.access_token))).toBe(401)
  })

  it('ends the family of a revoked refresh token', async () => {
    const { body } = await login()
    expect((await revoke(String(body.refresh_token))).status).toBe(200)
    const answer = await token({
      grant_type: 'refresh_token',
      refresh_token: String(body.refresh_token),
    })
    expect(answer.status).toBe(400)
    expect(await auth(String(body.access_token))).toBe(401)
  })

  it('answers 200 for a token it does not know', async () => {
    expect((await revoke('not-a-token')).status).toBe(200)
    expect((await fetch(`${gate.url}/revoke`, { method: 'POST' })).status).toBe(400)
  })
})

describe('brute force', () => {
  it('locks a username after five failures with 429 and Retry-After', async () => {
    for (let i = 0; i < 5; i++)
      expect((await login('u2', 'bad', `198.51.100.${i}`)).status).toBe(400)
    const locked = await login('u2', PASSWORD, '198.51.100.99')
    expect(locked.status).toBe(429)
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  it('limits one client address to ten failures a minute across usernames', async () => {
    for (let i = 0; i < 10; i++) await login(`ghost${i}`, 'bad', '192.0.2.7')
    const limited = await login('u3', PASSWORD, '192.0.2.7')
    expect(limited.status).toBe(429)
    expect((await login('u3', PASSWORD, '192.0.2.8')).status).toBe(200)
  })

  it('writes one audit record per login, with user, address and reason', async () => {
    const before = logs.records().length
    await login('u4', 'bad', '192.0.2.99')
    const audit = logs
      .records()
      .slice(before)
      .filter((r) => r.event === 'login')
    expect(audit).toEqual([
      expect.objectContaining({
        outcome: 'failure',
        code: 'bad_password',
        user: 'u4',
        ip: '192.0.2.99',
      }),
    ])
    expect(JSON.stringify(logs.records())).not.toContain(PASSWORD)
  })
})

describe('discovery', () => {
  it('names the issuer and its endpoints', async () => {
    const response = await fetch(`${gate.url}/.well-known/openid-configuration`)
    expect(await response.json()).toMatchObject({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      token_endpoint: `${ISSUER}/token`,
      revocation_endpoint: `${ISSUER}/revoke`,
    })
  })

  it('publishes public members only, with cache headers', async () => {
    const response = await fetch(`${gate.url}/.well-known/jwks.json`)
    expect(response.headers.get('cache-control')).toMatch(/max-age=\d+/)
    const { keys } = (await response.json()) as { keys: Record<string, unknown>[] }
    expect(keys.length).toBeGreaterThan(0)
    for (const jwk of keys) {
      expect(Object.keys(jwk).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use'])
    }
  })
})
