import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'

import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import { REPO_ROOT, startGateTrustingIdp } from '../helpers/gate.js'
import {
  ALICE_CLAIMS,
  ALICE_HEADERS,
  AUDIENCE,
  IDENTITY,
  ISSUER,
} from '../helpers/identity-fixtures.js'
import { send } from '../helpers/raw-http.js'
import { describeWithBinary } from '../helpers/requirements.js'
import { GATE_PAGES } from '../helpers/sign-in-contract.js'
import { signToken } from '../helpers/tokens.js'
import {
  applyCustomRequestHeaders,
  applyForwardAuthAnswer,
  forwardAuthCall,
} from '../helpers/traefik-forward.js'

import type { JWTPayload } from 'jose'

import type { Gate } from '../helpers/gate.js'
import type { JWKSServer } from '../helpers/jwks-server.js'
import type { HeaderLines } from '../helpers/raw-http.js'
import type { SigningKey } from '../helpers/tokens.js'
import type { ClientRequest, ForwardAuthSettings } from '../helpers/traefik-forward.js'

const TRAEFIK = join(REPO_ROOT, 'traefik')
const FIVE = IDENTITY.map((name) => name.toUpperCase())

/** One source's Traefik settings for Grafana, normalised so the three forms compare. */
interface GrafanaRouting {
  forwardAuth: ForwardAuthSettings & { authResponseHeadersRegex?: unknown }
  customRequestHeaders: Record<string, string>
  /** The router's middleware names, in order. */
  chain: string[]
}

function fromFileProvider(): GrafanaRouting {
  const { http } = parse(readFileSync(join(TRAEFIK, 'dynamic.yaml'), 'utf8'))
  return {
    forwardAuth: http.middlewares.jwtgate.forwardAuth,
    customRequestHeaders: http.middlewares['grafana-request-headers'].headers.customRequestHeaders,
    chain: http.routers.grafana.middlewares,
  }
}

function fromDockerLabels(): GrafanaRouting {
  const compose = parse(readFileSync(join(TRAEFIK, 'docker-compose.labels.yaml'), 'utf8'))
  const labels = new Map<string, string>(
    (compose.services.grafana.labels as string[]).map((label) => {
      const eq = label.indexOf('=')
      return [label.slice(0, eq), label.slice(eq + 1)]
    }),
  )
  const get = (key: string) => labels.get(`traefik.http.${key}`) ?? ''
  const list = (key: string) => get(key).split(',').filter(Boolean)
  const custom = 'middlewares.grafana-request-headers.headers.customRequestHeaders.'
  return {
    forwardAuth: {
      address: get('middlewares.jwtgate.forwardAuth.address'),
      trustForwardHeader: get('middlewares.jwtgate.forwardAuth.trustForwardHeader') === 'true',
      authResponseHeaders: list('middlewares.jwtgate.forwardAuth.authResponseHeaders'),
      addAuthCookiesToResponse: list('middlewares.jwtgate.forwardAuth.addAuthCookiesToResponse'),
    },
    customRequestHeaders: Object.fromEntries(
      [...labels]
        .filter(([key]) => key.startsWith(`traefik.http.${custom}`))
        .map(([key, value]) => [key.slice(`traefik.http.${custom}`.length), value]),
    ),
    chain: list('routers.grafana.middlewares'),
  }
}

function fromKubernetes(): GrafanaRouting {
  const docs = ['middleware.yaml', 'ingressroute.yaml'].flatMap((file) =>
    parseAllDocuments(readFileSync(join(TRAEFIK, 'kubernetes', file), 'utf8')).map((doc) =>
      doc.toJS(),
    ),
  )
  const find = (kind: string, name: string) =>
    docs.find((doc) => doc.kind === kind && doc.metadata.name === name)
  return {
    forwardAuth: find('Middleware', 'jwtgate').spec.forwardAuth,
    customRequestHeaders: find('Middleware', 'grafana-request-headers').spec.headers
      .customRequestHeaders,
    chain: find('IngressRoute', 'grafana').spec.routes[0].middlewares.map(
      (ref: { name: string }) => ref.name,
    ),
  }
}

const SOURCES = {
  'file provider': fromFileProvider,
  'docker labels': fromDockerLabels,
  kubernetes: fromKubernetes,
}

describe('shipped Traefik configs', () => {
  it.each(Object.entries(SOURCES))('%s: copies the five headers by name', (_, load) => {
    const { forwardAuth } = load()

    expect(forwardAuth.authResponseHeaders).toEqual(FIVE)
    expect(forwardAuth.authResponseHeadersRegex).toBeUndefined()
    expect(forwardAuth.addAuthCookiesToResponse).toEqual(['jwtgate'])
    expect(forwardAuth.trustForwardHeader).toBe(true)
    expect(new URL(forwardAuth.address).pathname).toBe('/forward-auth')
  })

  it.each(Object.entries(SOURCES))(
    '%s: asks the gate before the middleware that drops Authorization',
    (_, load) => {
      const { chain, customRequestHeaders } = load()

      expect(chain).toEqual(['jwtgate', 'grafana-request-headers'])
      expect(customRequestHeaders).toEqual({
        Authorization: '',
        ...Object.fromEntries(FIVE.map((name) => [name.replaceAll('-', '_'), ''])),
      })
    },
  )

  it('says the same in all three forms, the addresses aside', () => {
    const [file, ...others] = Object.values(SOURCES).map((load) => {
      const routing = load()
      return { ...routing, forwardAuth: { ...routing.forwardAuth, address: undefined } }
    })

    for (const other of others) expect(other).toEqual(file)
  })

  it('lists every Kubernetes manifest in the kustomization', () => {
    const dir = join(TRAEFIK, 'kubernetes')
    const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))
    const manifests = readdirSync(dir).filter((file) => file !== 'kustomization.yaml')

    expect([...kustomization.resources].sort()).toEqual(manifests.sort())
    expect(kustomization.namespace).toBeUndefined()
  })
})

/** The gate's own pages as one Traefik form routes them, normalised so two forms compare. */
interface PagesRouting {
  /** The Host of the rule, and the paths of its `Path` matchers in order. */
  host: string | undefined
  paths: string[]
  middlewares: unknown
  /** Where the service sends them: the gate's port. */
  port: string
  grafanaHost: string | undefined
}

const ruleHost = (rule: string) => /Host\(`([^`]+)`\)/.exec(rule)?.[1]
const rulePaths = (rule: string) => [...rule.matchAll(/Path\(`([^`]+)`\)/g)].map((m) => m[1]!)

function pagesFromFileProvider(): PagesRouting {
  const { http } = parse(readFileSync(join(TRAEFIK, 'dynamic.yaml'), 'utf8'))
  const router = http.routers['jwtgate-pages']
  const [server] = http.services[router.service].loadBalancer.servers
  return {
    host: ruleHost(router.rule),
    paths: rulePaths(router.rule),
    middlewares: router.middlewares,
    port: new URL(server.url).port,
    grafanaHost: ruleHost(http.routers.grafana.rule),
  }
}

function pagesFromDockerLabels(): PagesRouting {
  const compose = parse(readFileSync(join(TRAEFIK, 'docker-compose.labels.yaml'), 'utf8'))
  const labelsOf = (service: string) =>
    new Map<string, string>(
      (compose.services[service].labels as string[]).map((label) => {
        const eq = label.indexOf('=')
        return [label.slice(0, eq), label.slice(eq + 1)]
      }),
    )
  const gate = labelsOf('jwtgate')
  const rule = gate.get('traefik.http.routers.jwtgate-pages.rule') ?? ''
  const service = gate.get('traefik.http.routers.jwtgate-pages.service')
  return {
    host: ruleHost(rule),
    paths: rulePaths(rule),
    middlewares: gate.get('traefik.http.routers.jwtgate-pages.middlewares'),
    port: gate.get(`traefik.http.services.${service}.loadBalancer.server.port`) ?? '',
    grafanaHost: ruleHost(labelsOf('grafana').get('traefik.http.routers.grafana.rule') ?? ''),
  }
}

describe.each([
  ['file provider', pagesFromFileProvider],
  ['docker labels', pagesFromDockerLabels],
])("shipped Traefik %s: the gate's own pages", (_, load) => {
  // Without them a browser sent to the sign-in page would meet forwardAuth again: a loop.
  it("routes them on Grafana's host to the gate, without forwardAuth", () => {
    const pages = load()

    expect(pages.paths).toEqual(GATE_PAGES)
    expect(pages.host).toBe(pages.grafanaHost)
    expect(pages.middlewares).toBeUndefined()
    expect(pages.port).toBe('8080')
  })
})

describeWithBinary('kubectl', 'Traefik Kubernetes resources', (kubectl) => {
  it('render with kustomize into two Middlewares and two IngressRoutes', () => {
    const rendered = spawnSync(kubectl, ['kustomize', join(TRAEFIK, 'kubernetes')], {
      encoding: 'utf8',
    })

    expect(rendered.stderr).toBe('')
    const kinds = parseAllDocuments(rendered.stdout).map((doc) => doc.toJS().kind)
    expect(kinds.sort()).toEqual(['IngressRoute', 'IngressRoute', 'Middleware', 'Middleware'])
  })
})

describe('the gate answering auth calls shaped as Traefik forwardAuth makes them', () => {
  let key: SigningKey
  let idp: JWKSServer
  let gate: Gate
  let settings: ForwardAuthSettings
  let customRequestHeaders: Record<string, string>

  beforeAll(async () => {
    ;({ key, idp: idp, gate } = await startGateTrustingIdp(ISSUER, AUDIENCE))
    const shipped = fromFileProvider()
    // The shipped address with the test gate's host and port: only the path is Traefik's.
    const address = new URL(shipped.forwardAuth.address)
    settings = { ...shipped.forwardAuth, address: `${gate.url}${address.pathname}` }
    customRequestHeaders = shipped.customRequestHeaders
  })
  afterAll(async () => {
    await gate?.stop()
    await idp?.close()
  })
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => console.error(`--- jwtgate ---\n${gate?.logs()}`))
  })

  const tokenFor = (claims: JWTPayload) => signToken(key, { iss: ISSUER, aud: AUDIENCE, ...claims })

  /** A browser-like request to Grafana through Traefik, with `headers` on top. */
  function clientRequest(headers: HeaderLines, overrides: Partial<ClientRequest> = {}) {
    return {
      method: 'GET',
      host: 'grafana.example.com',
      uri: '/d/abc?orgId=1',
      tls: true,
      remoteIp: '203.0.113.7',
      headers: [['User-Agent', 'Mozilla/5.0'], ['Accept', '*/*'], ...headers] as HeaderLines,
      ...overrides,
    }
  }

  /** Runs one request through the modelled forwardAuth and the shipped header middleware. */
  async function route(req: ClientRequest) {
    const call = forwardAuthCall(req, settings)
    const answer = await send(call.url, call.headers, { method: call.method })
    const outcome = applyForwardAuthAnswer(req.headers, answer, settings)
    if (!outcome.forwarded) return { answer, outcome, toGrafana: undefined }
    const toGrafana = applyCustomRequestHeaders(outcome.headers, customRequestHeaders)
    return {
      answer,
      outcome,
      toGrafana: Object.fromEntries(toGrafana.map(([n, v]) => [n.toLowerCase(), v])),
    }
  }

  const forgedAll = (value: string): HeaderLines =>
    FIVE.flatMap((name) => [
      [name, value],
      [name.replaceAll('-', '_'), value],
    ])

  it('allows a bearer token and replaces every client copy of the identity headers', async () => {
    const token = await tokenFor(ALICE_CLAIMS)

    const { answer, toGrafana } = await route(
      clientRequest([['Authorization', `Bearer ${token}`], ...forgedAll('forged')]),
    )

    expect(answer.status).toBe(200)
    expect(answer.headers['content-length']).toBe('0')
    expect(toGrafana).toMatchObject(ALICE_HEADERS)
    expect(JSON.stringify(toGrafana)).not.toContain('forged')
    expect(toGrafana?.authorization).toBeUndefined()
  })

  it('clears a forged header whose claim the token lacks', async () => {
    const token = await tokenFor({ sub: 'u-bare' })

    const { toGrafana } = await route(
      clientRequest([['Authorization', `Bearer ${token}`], ...forgedAll('Admin')]),
    )

    expect(toGrafana).toMatchObject({
      'x-webauth-user': 'u-bare',
      'x-webauth-email': '',
      'x-webauth-name': '',
      'x-webauth-groups': '',
      'x-webauth-role': 'Viewer',
    })
    expect(JSON.stringify(toGrafana)).not.toContain('Admin')
  })

  it('takes the session cookie a browser sends, also on a websocket upgrade', async () => {
    const token = await tokenFor(ALICE_CLAIMS)
    const upgrade: HeaderLines = [
      ['Connection', 'Upgrade'],
      ['Upgrade', 'websocket'],
      ['Cookie', `grafana_session=abc; jwtgate=${token}`],
    ]

    const { answer, toGrafana } = await route(clientRequest(upgrade, { uri: '/api/live/ws' }))

    expect(answer.status).toBe(200)
    expect(toGrafana).toMatchObject(ALICE_HEADERS)
  })

  it("hands the client the gate's 401 with its challenge and no identity headers", async () => {
    const { outcome } = await route(clientRequest(forgedAll('forged')))

    expect(outcome).toMatchObject({ forwarded: false, status: 401 })
    const headers = outcome.forwarded ? {} : outcome.headers
    expect(headers['www-authenticate']).toBe('Bearer realm="jwtgate"')
    expect(Object.keys(headers).filter((name) => name.startsWith('x-webauth'))).toEqual([])
  })

  it('reads the original request from the X-Forwarded headers Traefik sends', async () => {
    const token = await tokenFor({ ...ALICE_CLAIMS, sub: 'u-traefik-shaped' })
    const req = clientRequest([['Authorization', `Bearer ${token}`]], {
      method: 'POST',
      uri: '/api/ds/query?traefik=1',
    })

    await route(req)

    // The gate's log line crosses a pipe after its answer; give it a moment to arrive.
    const record = await vi.waitFor(() => {
      const line = gate
        .logs()
        .split('\n')
        .find((text) => text.includes('"sub":"u-traefik-shaped"'))
      if (line === undefined) throw new Error('no decision record yet')
      return JSON.parse(line)
    })
    expect(record).toMatchObject({
      method: 'POST',
      host: 'grafana.example.com',
      path: '/api/ds/query',
    })
  })
})
