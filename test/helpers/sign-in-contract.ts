import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest'

import { setTimeout as sleep } from 'node:timers/promises'

import { startLiveUpstream } from './live-upstream.js'
import { freePort } from './ports.js'
import { send } from './raw-http.js'
import { describeWithBinary } from './requirements.js'
import { SIGN_IN_ACCESS_TTL, SIGN_IN_USER, startSignInGate } from './sign-in-gate.js'

import type { Gate } from './gate.js'
import type { LiveUpstream } from './live-upstream.js'
import type { RunningProxy } from './proxy-contract.js'
import type { HeaderLines, RawAnswer } from './raw-http.js'

/** How to run one proxy's shipped config with the gate's pages behind it. */
export interface SignInProxy {
  /** The binary `describeWithBinary` requires. */
  binary: string
  title: string
  /** Starts the proxy on 127.0.0.1:`listen`, the URL the gate was told browsers use. */
  start(addresses: { jwtgate: string; grafana: string; listen: number }): Promise<RunningProxy>
}

/** The gate's paths a shipped config routes to it without an auth call, on Grafana's host. */
export const GATE_PAGES = [
  '/login',
  '/logout',
  '/token',
  '/revoke',
  '/.well-known/jwks.json',
  '/.well-known/openid-configuration',
]

/** What Chromium sends when the user opens a page: the gate tells navigations by these. */
const NAVIGATION: HeaderLines = [
  ['Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
  ['Sec-Fetch-Mode', 'navigate'],
  ['Sec-Fetch-Dest', 'document'],
]

/** A form post from the sign-in page itself, as the browser sends it. */
const FORM_POST: HeaderLines = [
  ['Content-Type', 'application/x-www-form-urlencoded'],
  ['Sec-Fetch-Site', 'same-origin'],
  ['Sec-Fetch-Mode', 'navigate'],
]

/** The `name=value` of the session cookie an answer sets, or undefined. */
function sessionCookieOf(answer: RawAnswer): string | undefined {
  const cookies = answer.headers['set-cookie'] ?? []
  return cookies.find((cookie) => cookie.startsWith('jwtgate='))?.split(';')[0]
}

/**
 * The browser's whole path through a real proxy running its shipped config, with the gate as
 * its own issuer and a stand-in Grafana that records what reaches it: the redirect to the
 * sign-in page, the sign-in through the proxy, the session cookie getting the page through as
 * the user, a renewal reaching the browser, and signing out.
 */
export function describeSignInThroughProxy(proxy: SignInProxy): void {
  describeWithBinary(proxy.binary, proxy.title, () => {
    let gate: Gate
    let upstream: LiveUpstream
    let running: RunningProxy
    let site: string

    beforeAll(async () => {
      const listen = await freePort()
      site = `http://127.0.0.1:${listen}`
      gate = await startSignInGate(site)
      upstream = await startLiveUpstream()
      running = await proxy.start({ jwtgate: gate.address, grafana: upstream.address, listen })
    })
    afterAll(async () => {
      await running?.stop()
      await gate?.stop()
      await upstream?.close()
    })
    beforeEach(({ onTestFailed }) => {
      onTestFailed(async () => {
        console.error(`--- jwtgate ---\n${gate?.logs()}\n--- ${proxy.binary} ---`)
        console.error(await running?.logs())
      })
    })

    const navigate = async (path: string, lines: HeaderLines = []) => {
      const before = upstream.requests.length
      const answer = await send(`${site}${path}`, [...NAVIGATION, ...lines])
      return { answer, forwarded: upstream.requests.slice(before) }
    }
    const signIn = async (rd: string) => {
      const { username, password } = SIGN_IN_USER
      const body = new URLSearchParams({ username, password, rd }).toString()
      const answer = await send(`${site}/login`, FORM_POST, { method: 'POST', body })
      return { answer, cookie: sessionCookieOf(answer) ?? '' }
    }

    it('sends a page navigation without a session to the sign-in page, rd naming the page', async () => {
      const { answer, forwarded } = await navigate('/d/abc/overview?orgId=1&from=now-6h')

      expect(answer.status).toBe(302)
      const rd = encodeURIComponent(`${site}/d/abc/overview?orgId=1&from=now-6h`)
      expect(answer.headers.location).toBe(`${site}/login?rd=${rd}`)
      expect(forwarded).toEqual([])
    })

    it('answers an XHR without a session with 401 and no redirect', async () => {
      const answer = await send(`${site}/api/dashboards/uid/abc`, [
        ['Accept', 'application/json'],
        ['Sec-Fetch-Mode', 'cors'],
      ])

      expect(answer.status).toBe(401)
      expect(answer.headers.location).toBeUndefined()
      expect(answer.headers['www-authenticate']).toBe('Bearer realm="jwtgate"')
    })

    it('serves the sign-in page at the address it redirects to', async () => {
      const redirect = await navigate('/d/abc')
      const login = new URL(redirect.answer.headers.location ?? '')

      const { answer, forwarded } = await navigate(`${login.pathname}${login.search}`)

      expect(answer.status).toBe(200)
      expect(answer.headers['content-security-policy']).toContain("default-src 'none'")
      expect(answer.body).toContain('<form method="post" action="/login">')
      expect(answer.body).toContain(`name="rd" value="${site}/d/abc"`)
      expect(forwarded).toEqual([])
    })

    it('signs in through the proxy, and the cookie gets the page through as the user', async () => {
      const { answer, cookie } = await signIn(`${site}/d/abc`)

      expect(answer.status).toBe(303)
      expect(answer.headers.location).toBe(`${site}/d/abc`)
      expect(cookie).toMatch(/^jwtgate=[\w-]+\.[\w-]+\.[\w-]+~[\w-]+$/)
      const page = await navigate('/d/abc', [['Cookie', cookie]])
      expect(page.answer.status).toBe(200)
      expect(page.forwarded[0]?.headers).toMatchObject({
        'x-webauth-user': SIGN_IN_USER.username,
        'x-webauth-email': SIGN_IN_USER.email,
        'x-webauth-role': 'Editor',
      })
      expect(page.forwarded[0]?.headers.cookie).toContain(cookie)
    })

    // The session is not touched before its token expires: an auth cache would keep the answer.
    it("passes a renewal's Set-Cookie from the auth answer on to the browser", async () => {
      const { cookie } = await signIn(`${site}/`)
      await sleep((SIGN_IN_ACCESS_TTL + 1) * 1_000)

      const { answer, forwarded } = await navigate('/d/abc', [['Cookie', cookie]])

      expect(answer.status).toBe(200)
      expect(forwarded[0]?.headers['x-webauth-user']).toBe(SIGN_IN_USER.username)
      const renewed = sessionCookieOf(answer)
      expect(renewed).toMatch(/^jwtgate=[\w-]+\.[\w-]+\.[\w-]+~[\w-]+$/)
      expect(renewed).not.toBe(cookie)
      const next = await navigate('/d/abc', [['Cookie', renewed!]])
      expect(next.answer.status).toBe(200)
      expect(sessionCookieOf(next.answer)).toBeUndefined()
    }, 20_000)

    it('routes the issuer endpoints to the gate without a session', async () => {
      const before = upstream.requests.length
      const { username, password } = SIGN_IN_USER
      const grant = new URLSearchParams({ grant_type: 'password', username, password })
      const form: HeaderLines = [['Content-Type', 'application/x-www-form-urlencoded']]

      const discovery = await send(`${site}/.well-known/openid-configuration`)
      const keys = await send(`${site}/.well-known/jwks.json`)
      const token = await send(`${site}/token`, form, { method: 'POST', body: `${grant}` })
      const access = JSON.parse(token.body).access_token as string
      const body = `${new URLSearchParams({ token: access })}`
      const revoked = await send(`${site}/revoke`, form, { method: 'POST', body })

      expect(JSON.parse(discovery.body)).toMatchObject({ token_endpoint: `${site}/token` })
      expect(JSON.parse(keys.body).keys.length).toBeGreaterThan(0)
      expect([token.status, revoked.status]).toEqual([200, 200])
      expect((await send(`${site}/d/abc`, [['Authorization', `Bearer ${access}`]])).status).toBe(
        401,
      )
      expect(upstream.requests.length).toBe(before)
    })

    it('signs out through the proxy, after which the page sends the browser to sign in', async () => {
      const { cookie } = await signIn(`${site}/`)

      const answer = await send(`${site}/logout`, [...FORM_POST, ['Cookie', cookie]], {
        method: 'POST',
        body: '',
      })

      expect(answer.status).toBe(303)
      expect(answer.headers.location).toBe(`${site}/login`)
      expect(sessionCookieOf(answer)).toBe('jwtgate=')
      const { answer: page, forwarded } = await navigate('/d/abc', [['Cookie', cookie]])
      expect(page.status).toBe(302)
      expect(page.headers.location).toBe(`${site}/login?rd=${encodeURIComponent(`${site}/d/abc`)}`)
      expect(forwarded).toEqual([])
    })
  })
}
