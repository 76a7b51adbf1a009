import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { request } from 'node:http'
import { connect } from 'node:net'

import { startJWKSServer } from '../../helpers/jwks-server.js'
import { captureLogs, readMetric, startInProcessGate } from '../../helpers/in-process-gate.js'
import { createSigningKey, jwks, signToken } from '../../helpers/tokens.js'
import type { InProcessGate, LogCapture } from '../../helpers/in-process-gate.js'
import type { JWKSServer } from '../../helpers/jwks-server.js'
import type { SigningKey } from '../../helpers/tokens.js'

const ISSUER = 'https://idp.test'
const IDENTITY = ['user', 'email', 'name', 'groups', 'role'].map((h) => `x-webauth-${h}`)

let idp: JWKSServer
let key: SigningKey
let gate: InProcessGate
let logs: LogCapture
let token: string

function claims(extra: Record<string, unknown> = {}) {
  return { iss: ISSUER, aud: 'grafana', sub: 'u-1', preferred_username: 'alice', ...extra }
}

beforeAll(async () => {
  key = await createSigningKey()
  idp = await startJWKSServer(jwks(key).keys)
  logs = captureLogs()
  gate = await startInProcessGate(
    {
      JWTGATE_JWKS_URL: idp.url,
      JWTGATE_ISSUER: ISSUER,
      JWTGATE_ROLE_MAP: 'ops:Admin,devs:Editor',
      JWTGATE_LOG_LEVEL: 'debug',
    },
    { logStream: logs.stream },
  )
  token = await signToken(key, claims({ groups: ['devs', 'ops'], email: 'a@example.com' }))
})
afterAll(async () => {
  await gate?.close()
  await idp?.close()
})

function auth(path: string, headers: Record<string, string> = {}, method = 'GET') {
  return fetch(`${gate.url}${path}`, { method, headers })
}

/** Sends a request byte for byte and resolves with the answer's head. */
function rawRequest(text: string): Promise<string> {
  const { port } = new URL(gate.url)
  return new Promise((resolve, reject) => {
    let answer = ''
    const socket = connect(Number(port), '127.0.0.1', () => socket.end(text))
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')))
    socket.on('end', () => resolve(answer))
    socket.on('error', reject)
  })
}

describe('/auth and /forward-auth', () => {
  it.each(['/auth', '/forward-auth', '/forward-auth/api/dashboards/uid/x'])(
    'answers %s with all five identity headers',
    async (path) => {
      const response = await auth(path, { authorization: `Bearer ${token}` })
      expect(response.status).toBe(200)
      expect(IDENTITY.map((h) => response.headers.get(h))).toEqual([
        'alice',
        'a@example.com',
        '',
        'devs,ops',
        'Admin',
      ])
      expect(response.headers.get('content-length')).toBe('0')
      expect(response.headers.get('transfer-encoding')).toBeNull()
    },
  )

  it.each(['POST', 'PUT', 'DELETE', 'HEAD'])('judges a %s like a GET (Envoy)', async (method) => {
    const response = await auth('/forward-auth', { authorization: `Bearer ${token}` }, method)
    expect(response.status).toBe(200)
  })

  it('narrows a location to members of any listed group', async () => {
    const header = { authorization: `Bearer ${token}` }
    expect((await auth('/auth?group=ops', header)).status).toBe(200)
    expect((await auth('/auth?group=admins&group=ops', header)).status).toBe(200)
    expect((await auth('/auth?group=admins,devs', header)).status).toBe(200)

    const refused = await auth('/auth?group=admins', header)
    expect(refused.status).toBe(403)
    expect(refused.headers.get('www-authenticate')).toContain('error="insufficient_scope"')
    expect(refused.headers.get('x-webauth-user')).toBeNull()
  })

  it('answers a missing token with a bare Bearer challenge', async () => {
    const response = await auth('/auth')
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="jwtgate"')
    expect(response.headers.get('content-length')).toBe('0')
  })

  it('answers a request carrying websocket upgrade headers as a plain request', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${gate.url}/forward-auth`, {
        headers: {
          authorization: `Bearer ${token}`,
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
      })
      req.on('response', (response) => resolve(response.statusCode ?? 0))
      req.on('upgrade', () => reject(new Error('the gate upgraded the connection')))
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(200)
  })

  it('refuses two Authorization headers', async () => {
    const head = await rawRequest(
      `GET /auth HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer ${token}\r\n` +
        `Authorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
    )
    expect(head).toMatch(/^HTTP\/1\.1 401 /)
  })
})

describe('POST /revoke with the issuer off', () => {
  it("denies an identity provider's token from then on", async () => {
    const own = await signToken(key, claims({ jti: 'idp-token-1' }))
    expect((await auth('/auth', { authorization: `Bearer ${own}` })).status).toBe(200)
    const answer = await fetch(`${gate.url}/revoke`, {
      method: 'POST',
      body: new URLSearchParams({ token: own }),
    })
    expect(answer.status).toBe(200)
    expect((await auth('/auth', { authorization: `Bearer ${own}` })).status).toBe(401)
    expect((await fetch(`${gate.url}/token`, { method: 'POST' })).status).toBe(404)
  })
})

describe('decision records', () => {
  it('writes one record per decision with the original request from a trusted proxy', async () => {
    const before = logs.records().length
    await auth('/auth?group=nobody', {
      authorization: `Bearer ${token}`,
      'x-original-uri': '/d/abc?orgId=1',
      'x-forwarded-method': 'POST',
      'x-forwarded-host': 'grafana.example.com',
      'x-request-id': 'req-42',
    })
    const records = logs.records().slice(before)
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({
      req_id: 'req-42',
      method: 'POST',
      host: 'grafana.example.com',
      path: '/d/abc',
      granted: false,
      code: 'ERR_POLICY_DENIED',
      iss: ISSUER,
      sub: 'u-1',
      kid: key.kid,
      alg: 'RS256',
    })
    expect(JSON.stringify(records)).not.toContain(token.split('.')[2])
  })

  it("reads ingress-nginx's X-Original-URL", async () => {
    const before = logs.records().length
    await auth('/auth', { 'x-original-url': 'https://grafana.example.org/d/xyz?orgId=2' })
    expect(logs.records().slice(before)[0]).toMatchObject({
      host: 'grafana.example.org',
      path: '/d/xyz',
    })
  })

  it('logs an allow at debug and a refusal at info', async () => {
    const before = logs.records().length
    await auth('/auth', { authorization: `Bearer ${token}` })
    await auth('/auth', { authorization: 'Bearer x.y.z' })
    const [allowed, refused] = logs.records().slice(before)
    expect(allowed).toMatchObject({ level: 20, granted: true, code: 'OK' })
    expect(refused).toMatchObject({ level: 30, granted: false, code: 'ERR_TOKEN_MALFORMED' })
  })
})

describe('operations endpoints', () => {
  it('reports readiness per issuer', async () => {
    const response = await fetch(`${gate.url}/readyz`)
    expect(response.status).toBe(200)
    const body = (await response.json()) as { issuers: { issuer: string; ready: boolean }[] }
    expect(body.issuers).toEqual([expect.objectContaining({ issuer: ISSUER, ready: true })])
  })

  it('counts decisions by code and exports JWKS figures', async () => {
    await auth('/auth')
    const missing = { endpoint: 'auth', code: 'ERR_TOKEN_MISSING' }
    expect(await readMetric(gate.url, 'jwtgate_decisions_total', missing)).toBeGreaterThan(0)
    expect(await readMetric(gate.url, 'jwtgate_jwks_keys', { issuer: ISSUER })).toBe(1)
    const fetches = { issuer: ISSUER, outcome: 'ok' }
    expect(await readMetric(gate.url, 'jwtgate_jwks_fetches_total', fetches)).toBe(1)
    const text = await (await fetch(`${gate.url}/metrics`)).text()
    expect(text).toContain('jwtgate_decision_duration_seconds_bucket')
  })

  it('answers /healthz without depending on anything', async () => {
    expect((await fetch(`${gate.url}/healthz`)).status).toBe(200)
  })
})
