import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest'

import {
  CLEARED_COOKIE,
  RENEWED_COOKIE,
  STAND_IN_IDENTITY,
  startAuthStandIn,
} from './auth-stand-in.js'
import { startGateTrustingIdp } from './gate.js'
import {
  ALICE_CLAIMS,
  ALICE_HEADERS,
  AUDIENCE,
  IDENTITY,
  ISSUER,
  badToken,
  forgedCopies,
  identityOf,
  strayIdentityHeaders,
} from './identity-fixtures.js'
import { UPSTREAM_COOKIE, startLiveUpstream } from './live-upstream.js'
import { send, upgrade } from './raw-http.js'
import { describeWithBinary } from './requirements.js'
import { signToken } from './tokens.js'

import type { JWTPayload } from 'jose'

import type { AuthStandIn } from './auth-stand-in.js'
import type { Gate } from './gate.js'
import type { JWKSServer } from './jwks-server.js'
import type { LiveUpstream } from './live-upstream.js'
import type { HeaderLines, RawAnswer, SendOptions } from './raw-http.js'
import type { SigningKey } from './tokens.js'
import type { RecordedRequest } from './upstream.js'

/** A proxy started by a suite, in front of the gate (or the stand-in) and the upstream. */
export interface RunningProxy {
  readonly url: string
  /** What the proxy logged, for a failing test's output. */
  logs(): Promise<string> | string
  stop(): Promise<unknown>
}

/** How to run one proxy's shipped config. Addresses are `host:port`. */
export interface ProxyUnderTest {
  /** The binary `describeWithBinary` requires. */
  binary: string
  title: string
  /** The gate endpoint the shipped config asks: `/auth` or `/forward-auth`. */
  authPath: string
  start(addresses: { jwtgate: string; grafana: string }): Promise<RunningProxy>
}

/** What {@link describeProxyContract} hands to a proxy's own extra tests. */
export interface ContractContext {
  gate(): Gate
  proxy(): RunningProxy
  upstream(): LiveUpstream
  tokenFor(claims: JWTPayload): Promise<string>
  /** Sends through the proxy; `forwarded` is what reached the upstream meanwhile. */
  through(path: string, lines?: HeaderLines, options?: SendOptions): Promise<Passage>
}

export interface Passage {
  answer: RawAnswer
  forwarded: RecordedRequest[]
}

/**
 * The end-to-end tests every shipped proxy config must pass, run against the real proxy with
 * the real gate (trusting a local JWKS), a stand-in Grafana, and a second proxy in front of a
 * gate stand-in whose answers set cookies. `extra` registers the proxy's own tests.
 */
export function describeProxyContract(
  proxy: ProxyUnderTest,
  extra?: (context: ContractContext) => void,
): void {
  describeWithBinary(proxy.binary, proxy.title, () => {
    let key: SigningKey
    let idp: JWKSServer
    let gate: Gate
    let upstream: LiveUpstream
    let standIn: AuthStandIn
    let running: RunningProxy
    let cookieProxy: RunningProxy

    beforeAll(async () => {
      ;({ key, idp: idp, gate } = await startGateTrustingIdp(ISSUER, AUDIENCE))
      upstream = await startLiveUpstream()
      standIn = await startAuthStandIn()
      running = await proxy.start({ jwtgate: gate.address, grafana: upstream.address })
      cookieProxy = await proxy.start({ jwtgate: standIn.address, grafana: upstream.address })
    })

    afterAll(async () => {
      await running?.stop()
      await cookieProxy?.stop()
      await gate?.stop()
      await standIn?.close()
      await upstream?.close()
      await idp?.close()
    })

    // A failing request through three processes says little by itself; their logs say why.
    beforeEach(({ onTestFailed }) => {
      onTestFailed(async () => {
        const logs = `${await running?.logs()}\n${await cookieProxy?.logs()}`
        console.error(`--- jwtgate ---\n${gate?.logs()}\n--- ${proxy.binary} ---\n${logs}`)
      })
    })

    const tokenFor = (claims: JWTPayload): Promise<string> =>
      signToken(key, { iss: ISSUER, aud: AUDIENCE, ...claims })

    const via = async (
      base: RunningProxy,
      path: string,
      lines?: HeaderLines,
      options?: SendOptions,
    ) => {
      const before = upstream.requests.length
      const answer = await send(`${base.url}${path}`, lines, options)
      return { answer, forwarded: upstream.requests.slice(before) }
    }
    const through = (path: string, lines?: HeaderLines, options?: SendOptions) =>
      via(running, path, lines, options)

    registerIdentityTests({ tokenFor, through })
    registerWebsocketTests(
      () => running,
      () => upstream,
      tokenFor,
    )

    it('asks its gate with a bodiless GET carrying the original method and URI', async () => {
      const body = JSON.stringify({ queries: [{ refId: 'A' }] })
      const lines: HeaderLines = [
        ['Authorization', 'Bearer allow'],
        ['Content-Type', 'application/json'],
      ]
      const calls = standIn.requests.length

      const { answer, forwarded } = await via(cookieProxy, '/api/ds/query?from=1', lines, {
        method: 'POST',
        body,
      })

      expect(answer.status).toBe(200)
      const call = standIn.requests[calls]
      expect(call).toMatchObject({ method: 'GET', url: proxy.authPath })
      expect(call?.headers).toMatchObject({
        'x-forwarded-method': 'POST',
        'x-forwarded-uri': '/api/ds/query?from=1',
        'x-forwarded-host': new URL(cookieProxy.url).host,
      })
      expect(standIn.bodyBytes()).toBe(0)
      expect(forwarded[0]?.method).toBe('POST')
      expect(upstream.bodies[upstream.requests.indexOf(forwarded[0]!)]).toBe(body)
    })

    it("passes an allowing answer's Set-Cookie to the client beside the upstream's own", async () => {
      const { answer, forwarded } = await via(cookieProxy, '/d/abc', [
        ['Authorization', 'Bearer allow'],
      ])

      expect(answer.status).toBe(200)
      expect(answer.headers['set-cookie']).toEqual(
        expect.arrayContaining([RENEWED_COOKIE, UPSTREAM_COOKIE]),
      )
      expect(identityOf(forwarded[0])).toEqual(STAND_IN_IDENTITY)
      expect(JSON.stringify(forwarded)).not.toContain('renewed-session')
    })

    it("passes a refusing answer's Set-Cookie and challenge to the client", async () => {
      const { answer, forwarded } = await via(cookieProxy, '/d/abc', [
        ['Authorization', 'Bearer deny'],
      ])

      expect(answer.status).toBe(401)
      expect(answer.headers['set-cookie']).toEqual([CLEARED_COOKIE])
      expect(answer.headers['www-authenticate']).toContain('error="invalid_token"')
      expect(forwarded).toHaveLength(0)
    })

    extra?.({
      gate: () => gate,
      proxy: () => running,
      upstream: () => upstream,
      tokenFor,
      through,
    })
  })
}

interface IdentityDeps {
  tokenFor(claims: JWTPayload): Promise<string>
  through(path: string, lines?: HeaderLines): Promise<Passage>
}

const SCENARIOS = ['without a token', 'with a bad token', 'beside a valid token of another user']

function registerIdentityTests({ tokenFor, through }: IdentityDeps): void {
  it('forwards a valid token with exactly the five identity headers', async () => {
    const token = await tokenFor(ALICE_CLAIMS)

    const { answer, forwarded } = await through('/d/abc?orgId=1', [
      ['Authorization', `Bearer ${token}`],
    ])

    expect(answer.status).toBe(200)
    expect(forwarded).toHaveLength(1)
    expect(forwarded[0]?.url).toBe('/d/abc?orgId=1')
    expect(identityOf(forwarded[0])).toEqual(ALICE_HEADERS)
    expect(strayIdentityHeaders(forwarded[0])).toEqual([])
    expect(forwarded[0]?.headers.authorization).toBeUndefined()
  })

  const cases = IDENTITY.flatMap((header) => SCENARIOS.map((scenario) => [header, scenario]))
  it.each(cases)(
    "never passes a client's own %s to the upstream (%s)",
    async (header, scenario) => {
      const forged = `forged-${header}-${SCENARIOS.indexOf(scenario!)}`
      const credential: HeaderLines = []
      if (scenario === SCENARIOS[1])
        credential.push(['Authorization', `Bearer ${await badToken()}`])
      if (scenario === SCENARIOS[2]) {
        credential.push(['Authorization', `Bearer ${await tokenFor(ALICE_CLAIMS)}`])
      }

      const { answer, forwarded } = await through('/api/search', [
        ...credential,
        ...forgedCopies(header!, forged),
      ])

      expect(JSON.stringify(forwarded)).not.toContain(forged)
      if (scenario !== SCENARIOS[2]) expect(answer.status).toBe(401)
      else expect(identityOf(forwarded[0])).toEqual(ALICE_HEADERS)
    },
  )

  it('clears forged headers whose claims the token lacks instead of passing them', async () => {
    const token = await tokenFor({ sub: 'u-bare' })
    const forged = IDENTITY.slice(1).flatMap((header) => forgedCopies(header, 'Admin'))

    const { answer, forwarded } = await through('/api/user', [
      ['Authorization', `Bearer ${token}`],
      ...forged,
    ])

    expect(answer.status).toBe(200)
    expect(identityOf(forwarded[0])).toEqual({
      'x-webauth-user': 'u-bare',
      'x-webauth-email': '',
      'x-webauth-name': '',
      'x-webauth-groups': '',
      'x-webauth-role': 'Viewer',
    })
    expect(strayIdentityHeaders(forwarded[0])).toEqual([])
  })

  it("passes the gate's 401 to the client with its challenge and no identity", async () => {
    const bare = await through('/d/abc')
    const bad = await through('/d/abc', [['Authorization', `Bearer ${await badToken()}`]])

    expect(bare.answer.status).toBe(401)
    expect(bare.answer.headers['www-authenticate']).toBe('Bearer realm="jwtgate"')
    expect(bad.answer.status).toBe(401)
    expect(bad.answer.headers['www-authenticate']).toContain('error="invalid_token"')
    expect(Object.keys(bad.answer.headers).filter((name) => name.startsWith('x-webauth'))).toEqual(
      [],
    )
    expect([...bare.forwarded, ...bad.forwarded]).toEqual([])
  })
}

function registerWebsocketTests(
  proxy: () => RunningProxy,
  upstream: () => LiveUpstream,
  tokenFor: (claims: JWTPayload) => Promise<string>,
): void {
  // Browsers cannot set Authorization on a websocket; Grafana Live authenticates by cookie.
  it('upgrades a Grafana Live websocket carrying the identity headers', async () => {
    const token = await tokenFor(ALICE_CLAIMS)
    const before = upstream().requests.length

    const result = await upgrade(`${proxy().url}/api/live/ws`, [
      ['Cookie', `jwtgate=${token}`],
      ...forgedCopies('x-webauth-role', 'Admin'),
    ])

    expect(result).toMatchObject({ upgraded: true, status: 101, echoed: 'ping through the tunnel' })
    const forwarded = upstream().requests.slice(before)
    expect(forwarded).toHaveLength(1)
    expect(forwarded[0]?.headers.upgrade).toBe('websocket')
    expect(identityOf(forwarded[0])).toEqual(ALICE_HEADERS)
    expect(strayIdentityHeaders(forwarded[0])).toEqual([])
  })

  it('refuses a websocket upgrade without a token before it reaches the upstream', async () => {
    const before = upstream().requests.length

    const result = await upgrade(
      `${proxy().url}/api/live/ws`,
      forgedCopies('x-webauth-user', 'admin'),
    )

    expect(result).toMatchObject({ upgraded: false, status: 401 })
    expect(upstream().requests.slice(before)).toEqual([])
  })
}
