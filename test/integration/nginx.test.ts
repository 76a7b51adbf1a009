import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest'

import { startGateTrustingIdp } from '../helpers/gate.js'
import { startNginx } from '../helpers/nginx.js'
import { describeWithBinary } from '../helpers/requirements.js'
import { signToken } from '../helpers/tokens.js'
import { startUpstream } from '../helpers/upstream.js'

import type { JWTPayload } from 'jose'

import type { Gate } from '../helpers/gate.js'
import type { JWKSServer } from '../helpers/jwks-server.js'
import type { Nginx } from '../helpers/nginx.js'
import type { SigningKey } from '../helpers/tokens.js'
import type { RecordedRequest, Upstream } from '../helpers/upstream.js'

const ISSUER = 'https://idp.test'
const AUDIENCE = 'grafana'

describeWithBinary('nginx', 'shipped nginx config in front of jwtgate', () => {
  let key: SigningKey
  let jwksServer: JWKSServer
  let gate: Gate
  let upstream: Upstream
  let nginx: Nginx

  beforeAll(async () => {
    ;({ key, idp: jwksServer, gate } = await startGateTrustingIdp(ISSUER, AUDIENCE))
    upstream = await startUpstream()
    nginx = await startNginx({ jwtgate: gate.address, grafana: upstream.address })
  })

  afterAll(async () => {
    await nginx?.stop()
    await gate?.stop()
    await upstream?.close()
    await jwksServer?.close()
  })

  // A failing request through three processes says little by itself; their logs say why.
  beforeEach(({ onTestFailed }) => {
    onTestFailed(async () => {
      const errorLog = await nginx?.errorLog()
      console.error(`--- jwtgate ---\n${gate?.logs()}\n--- nginx error.log ---\n${errorLog}`)
    })
  })

  function tokenFor(claims: JWTPayload): Promise<string> {
    return signToken(key, { iss: ISSUER, aud: AUDIENCE, ...claims })
  }

  /** GETs `path` through nginx; `forwarded` holds what the upstream received meanwhile. */
  async function get(path: string, headers: Record<string, string> = {}) {
    const before = upstream.requests.length
    const response = await fetch(`${nginx.url}${path}`, { headers })
    await response.arrayBuffer()
    const forwarded: RecordedRequest[] = upstream.requests.slice(before)
    return { response, forwarded }
  }

  it('forwards a valid bearer token with all five identity headers', async () => {
    const token = await tokenFor({
      sub: 'u-1',
      preferred_username: 'alice',
      email: 'alice@example.com',
      name: 'Alice',
      groups: ['dev', 'ops'],
    })

    const { response, forwarded } = await get('/d/abc?orgId=1', {
      authorization: `Bearer ${token}`,
    })

    expect(response.status).toBe(200)
    expect(forwarded).toHaveLength(1)
    expect(forwarded[0]?.url).toBe('/d/abc?orgId=1')
    expect(forwarded[0]?.headers).toMatchObject({
      'x-webauth-user': 'alice',
      'x-webauth-email': 'alice@example.com',
      'x-webauth-name': 'Alice',
      'x-webauth-groups': 'dev,ops',
      'x-webauth-role': 'Viewer',
    })
  })

  it('answers 401 to a request without a token and never reaches the upstream', async () => {
    const { response, forwarded } = await get('/d/abc')

    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer\b/i)
    expect(forwarded).toHaveLength(0)
  })

  it('replaces a client-sent X-WEBAUTH-USER with the token holder', async () => {
    const token = await tokenFor({ sub: 'u-2', preferred_username: 'bob' })

    const { response, forwarded } = await get('/', {
      authorization: `Bearer ${token}`,
      'x-webauth-user': 'admin',
    })

    expect(response.status).toBe(200)
    expect(forwarded[0]?.headers['x-webauth-user']).toBe('bob')
  })

  it('drops a forged X-WEBAUTH-EMAIL when the token has no email claim', async () => {
    const token = await tokenFor({ sub: 'u-3', preferred_username: 'carol' })

    const { response, forwarded } = await get('/', {
      authorization: `Bearer ${token}`,
      'x-webauth-email': 'admin@example.com',
      'x-webauth-role': 'Admin',
    })

    expect(response.status).toBe(200)
    expect(forwarded[0]?.headers['x-webauth-email'] ?? '').toBe('')
    expect(forwarded[0]?.headers['x-webauth-role']).toBe('Viewer')
  })

  it('carries the identity headers on the websocket location', async () => {
    const token = await tokenFor({ sub: 'u-4', preferred_username: 'dave' })

    const { response, forwarded } = await get('/api/live/ws', { authorization: `Bearer ${token}` })

    expect(response.status).toBe(200)
    expect(forwarded[0]?.url).toBe('/api/live/ws')
    expect(forwarded[0]?.headers).toMatchObject({
      'x-webauth-user': 'dave',
      'x-webauth-role': 'Viewer',
    })
  })

  it('keeps the bearer token away from the upstream', async () => {
    const token = await tokenFor({ sub: 'u-5', preferred_username: 'erin' })

    const { forwarded } = await get('/api/dashboards/home', { authorization: `Bearer ${token}` })

    expect(forwarded[0]?.headers['x-webauth-user']).toBe('erin')
    expect(forwarded[0]?.headers.authorization).toBeUndefined()
  })
})
