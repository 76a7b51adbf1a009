import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { mkdtempSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { hashPassword } from '../../src/issuer/passwords.js'
import { USERS_FILE, writeUsers } from '../../src/issuer/users.js'
import { startInProcessGate } from '../helpers/in-process-gate.js'
import type { InProcessGate } from '../helpers/in-process-gate.js'

const PASSWORD = 'correct horse battery'
const GRAFANA = 'https://grafana.test'

let gate: InProcessGate

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'jwtgate-browser-'))
  const passwordHash = await hashPassword(PASSWORD)
  writeUsers(join(dataDir, USERS_FILE), [
    {
      username: 'alice',
      passwordHash,
      email: 'alice@example.com',
      groups: ['ops'],
      disabled: false,
    },
  ])
  gate = await startInProcessGate({
    JWTGATE_DATA_DIR: dataDir,
    JWTGATE_ISSUER: 'https://auth.test',
    JWTGATE_PUBLIC_URL: 'https://auth.test',
    JWTGATE_REDIRECT_HOSTS: 'grafana.test',
    // Renewal starts in the last third of the token's life: here after about 6 s.
    JWTGATE_ACCESS_TTL: '9',
    JWTGATE_CLOCK_TOLERANCE: '0',
  })
})
afterAll(() => gate?.close())

const sameSite = {
  'sec-fetch-site': 'same-origin',
  'content-type': 'application/x-www-form-urlencoded',
}

async function signIn(rd = `${GRAFANA}/d/abc`) {
  const response = await fetch(`${gate.url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: sameSite,
    body: new URLSearchParams({ username: 'alice', password: PASSWORD, rd }),
  })
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0]!
  return { response, cookie }
}

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
}

/**
 * A GET through node:http: fetch would add its own `Sec-Fetch-Mode: cors`, and these tests
 * need to send what a browser's page navigation sends, or nothing.
 */
function get(path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${gate.url}${path}`, { headers }, (response) => {
      response.resume()
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

const forwardAuth = (headers: Record<string, string>) =>
  get('/forward-auth', {
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'grafana.test',
    ...headers,
  })

describe('GET /login', () => {
  it('serves a form under a strict Content-Security-Policy', async () => {
    const response = await fetch(`${gate.url}/login?rd=${encodeURIComponent(`${GRAFANA}/d/1`)}`)
    expect(response.status).toBe(200)
    const csp = response.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toMatch(/style-src 'nonce-[^']+'/)
    expect(response.headers.get('x-frame-options')).toBe('DENY')
    const html = await response.text()
    expect(html).toMatch(/<label for="username">/)
    expect(html).toMatch(/<label for="password">/)
    expect(html).toContain(`value="${GRAFANA}/d/1"`)
    expect(html).not.toMatch(/<script|src="http/)
  })

  it('replaces a foreign rd with the site root', async () => {
    const html = await (await fetch(`${gate.url}/login?rd=https://evil.test/`)).text()
    expect(html).not.toContain('evil.test')
  })
})

describe('POST /login', () => {
  it('sets an HttpOnly, Secure, SameSite=Lax session cookie and returns to rd', async () => {
    const { response } = await signIn()
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe(`${GRAFANA}/d/abc`)
    const cookie = response.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(/^jwtgate=[\w-]+\.[\w-]+\.[\w-]+~[\w-]{43}; /)
    for (const flag of ['HttpOnly', 'Secure', 'SameSite=Lax', 'Path=/'])
      expect(cookie).toContain(flag)
  })

  it('shows the same message for a wrong password and an unknown user', async () => {
    const texts = []
    for (const username of ['alice', 'nobody']) {
      const response = await fetch(`${gate.url}/login`, {
        method: 'POST',
        headers: sameSite,
        body: new URLSearchParams({ username, password: 'wrong', rd: '/' }),
      })
      expect(response.status).toBe(401)
      texts.push((await response.text()).match(/role="alert">([^<]*)</)?.[1])
    }
    expect(texts[0]).toBeTruthy()
    expect(texts[1]).toBe(texts[0])
  })

  it.each([
    [{ 'sec-fetch-site': 'cross-site' }],
    [{ 'sec-fetch-site': 'same-site' }],
    [{ origin: 'https://evil.test' }],
    [{ origin: 'null' }],
  ])('refuses a cross-site sign-in %j', async (headers) => {
    const response = await fetch(`${gate.url}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ username: 'alice', password: PASSWORD, rd: '/' }),
    })
    expect(response.status).toBe(403)
    expect(response.headers.get('set-cookie')).toBeNull()
  })
})

describe('the auth endpoints and a browser', () => {
  it('sends a page navigation without a token to the login page', async () => {
    const response = await forwardAuth({
      'sec-fetch-mode': 'navigate',
      'x-forwarded-uri': '/d/1?a=b',
    })
    expect(response.status).toBe(302)
    const rd = encodeURIComponent(`${GRAFANA}/d/1?a=b`)
    expect(response.headers.location).toBe(`https://auth.test/login?rd=${rd}`)
  })

  it.each([
    ['fetch', { 'sec-fetch-mode': 'cors' }],
    ['websocket', { 'sec-fetch-mode': 'websocket', upgrade: 'websocket' }],
    ['API client', { accept: 'application/json' }],
  ])('answers a %s call without a token with 401', async (_, headers) => {
    expect((await forwardAuth(headers)).status).toBe(401)
  })

  it('treats an old GET that accepts HTML as a navigation', async () => {
    expect((await forwardAuth({ accept: 'text/html,*/*' })).status).toBe(302)
  })

  it('names the login page in a header for nginx while staying a 401 on /auth', async () => {
    const response = await get('/auth', {
      'sec-fetch-mode': 'navigate',
      'x-original-uri': '/d/2',
      host: 'grafana.test',
    })
    expect(response.status).toBe(401)
    const rd = encodeURIComponent('http://grafana.test/d/2')
    expect(response.headers['x-jwtgate-login']).toBe(`https://auth.test/login?rd=${rd}`)
  })

  it('accepts the session cookie', async () => {
    const { cookie } = await signIn()
    const response = await forwardAuth({ cookie, 'sec-fetch-mode': 'navigate' })
    expect(response.status).toBe(200)
    expect(response.headers['x-webauth-user']).toBe('alice')
    expect(response.headers['set-cookie']).toBeUndefined()
  })

  it('renews a session near its end with one Set-Cookie, once for concurrent requests', async () => {
    const { cookie } = await signIn()
    await new Promise((resolve) => setTimeout(resolve, 6_500))
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`${gate.url}/auth`, { headers: { cookie } })),
    )
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200))
    const cookies = new Set(answers.map((a) => a.headers.get('set-cookie')))
    expect(cookies.size).toBe(1)
    const renewed = [...cookies][0]!.split(';')[0]!
    expect(renewed).not.toBe(cookie)

    // The renewed session still works, and the old one too until its token runs out.
    expect((await fetch(`${gate.url}/auth`, { headers: { cookie: renewed } })).status).toBe(200)
  }, 15_000)

  it('renews a session whose access token has already expired', async () => {
    const { cookie } = await signIn()
    await new Promise((resolve) => setTimeout(resolve, 9_500))
    const response = await forwardAuth({ cookie, 'sec-fetch-mode': 'navigate' })
    expect(response.status).toBe(200)
    expect(String(response.headers['set-cookie'])).toMatch(/^jwtgate=/)
  }, 15_000)
})

describe('sign-out', () => {
  it('asks for confirmation on GET', async () => {
    const response = await fetch(`${gate.url}/logout`)
    expect(await response.text()).toMatch(/<form method="post" action="\/logout">/)
  })

  it('revokes the session, clears the cookie and returns to the login page', async () => {
    const { cookie } = await signIn()
    const response = await fetch(`${gate.url}/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { ...sameSite, cookie },
    })
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('https://auth.test/login')
    expect(response.headers.get('set-cookie')).toMatch(/^jwtgate=; .*Max-Age=0/)
    expect((await fetch(`${gate.url}/auth`, { headers: { cookie } })).status).toBe(401)
  })
})
