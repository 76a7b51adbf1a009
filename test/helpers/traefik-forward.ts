import type { IncomingHttpHeaders } from 'node:http'

import type { HeaderLines, RawAnswer } from './raw-http.js'

/** A client request as it reaches Traefik's entry point. */
export interface ClientRequest {
  method: string
  /** The Host the client asked for. */
  host: string
  /** The request target: path and query. */
  uri: string
  tls: boolean
  /** The client's IP address as Traefik sees the connection. */
  remoteIp: string
  headers: HeaderLines
}

/** The forwardAuth settings that shape the auth call and what Traefik does with its answer. */
export interface ForwardAuthSettings {
  address: string
  trustForwardHeader: boolean
  authResponseHeaders: string[]
  addAuthCookiesToResponse: string[]
}

/** Headers a proxy must not forward (RFC 9110 §7.6.1), as Traefik's forwardAuth drops them. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']

/** What Traefik's entry point manages, and so removes when an untrusted client sends it. */
const MANAGED = [
  'x-forwarded-proto',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-forwarded-prefix',
  'x-forwarded-tls-client-cert',
  'x-forwarded-tls-client-cert-info',
  'x-real-ip',
]

const lower = (name: string): string => name.toLowerCase()
const without = (lines: HeaderLines, names: string[]): HeaderLines =>
  lines.filter(([name]) => !names.includes(lower(name)))
const valueOf = (lines: HeaderLines, name: string): string | undefined =>
  lines.find(([line]) => lower(line) === name)?.[1]

/**
 * What a Traefik v3 entry point does to a request from a client outside its
 * forwardedHeaders.trustedIPs before any middleware sees it: it drops the client's
 * X-Forwarded-* (also in underscore spelling) and sets its own scheme, port, host and server,
 * and X-Real-Ip. A websocket upgrade gets `ws`/`wss` as its scheme.
 */
export function throughEntryPoint(req: ClientRequest): HeaderLines {
  const kept = req.headers.filter(([name]) => !MANAGED.includes(lower(name).replaceAll('_', '-')))
  const upgrade = /websocket/i.test(valueOf(req.headers, 'upgrade') ?? '')
  const scheme = upgrade ? (req.tls ? 'wss' : 'ws') : req.tls ? 'https' : 'http'
  const port = req.host.includes(':') ? req.host.split(':')[1]! : req.tls ? '443' : '80'
  return [
    ...kept,
    ['X-Real-Ip', req.remoteIp],
    ['X-Forwarded-Proto', scheme],
    ['X-Forwarded-Port', port],
    ['X-Forwarded-Host', req.host],
    ['X-Forwarded-Server', 'traefik'],
  ]
}

/**
 * The auth call Traefik v3's forwardAuth makes for `req` (after the entry point): a GET to the
 * address without a body, with every request header except the hop-by-hop ones, and
 * X-Forwarded-For, -Method, -Proto, -Host and -Uri. With trustForwardHeader those already on the
 * request (the entry point's) are kept, and X-Forwarded-Port passes too; without it they are
 * computed from the request itself.
 */
export function forwardAuthCall(req: ClientRequest, settings: ForwardAuthSettings) {
  const seen = throughEntryPoint(req)
  const trusted = (name: string): string | undefined =>
    settings.trustForwardHeader ? valueOf(seen, name) : undefined

  const listed = (valueOf(seen, 'connection') ?? '').split(',').map((name) => lower(name.trim()))
  const copied = without(seen, [...HOP_BY_HOP, ...listed])
  const priorFor = trusted('x-forwarded-for')
  const computed: HeaderLines = [
    ['X-Forwarded-For', priorFor ? `${priorFor}, ${req.remoteIp}` : req.remoteIp],
    ['X-Forwarded-Method', trusted('x-forwarded-method') ?? req.method],
    ['X-Forwarded-Proto', trusted('x-forwarded-proto') ?? (req.tls ? 'https' : 'http')],
    ['X-Forwarded-Host', trusted('x-forwarded-host') ?? req.host],
    ['X-Forwarded-Uri', trusted('x-forwarded-uri') ?? req.uri],
  ]
  const replaced = computed.map(([name]) => lower(name))
  if (!settings.trustForwardHeader) replaced.push('x-forwarded-port')

  return {
    url: settings.address,
    method: 'GET' as const,
    headers: [...without(copied, replaced), ...computed] as HeaderLines,
  }
}

/** How Traefik goes on after the gate's answer. */
export type ForwardAuthOutcome =
  | { forwarded: true; headers: HeaderLines; cookies: string[] }
  | { forwarded: false; status: number; headers: IncomingHttpHeaders }

/**
 * Applies the gate's answer as Traefik v3's forwardAuth does. Outside 2xx the client gets the
 * answer's status and headers (hop-by-hop ones dropped). On a 2xx, for each name in
 * authResponseHeaders the client's copies are deleted and the answer's values, when the answer
 * has the header at all (even empty), are set; cookies named in addAuthCookiesToResponse are
 * kept for the client's response. The request then goes on to the next middleware.
 */
export function applyForwardAuthAnswer(
  request: HeaderLines,
  answer: RawAnswer,
  settings: ForwardAuthSettings,
): ForwardAuthOutcome {
  if (answer.status < 200 || answer.status >= 300) {
    const headers = Object.fromEntries(
      Object.entries(answer.headers).filter(([name]) => !HOP_BY_HOP.includes(name)),
    )
    return { forwarded: false, status: answer.status, headers }
  }

  const names = settings.authResponseHeaders.map(lower)
  const headers = without(request, names)
  for (const name of settings.authResponseHeaders) {
    const value = answer.headers[lower(name)]
    if (value === undefined) continue
    for (const one of Array.isArray(value) ? value : [value]) headers.push([name, one])
  }
  const cookies = (answer.headers['set-cookie'] ?? []).filter((cookie) =>
    settings.addAuthCookiesToResponse.includes(cookie.slice(0, cookie.indexOf('='))),
  )
  return { forwarded: true, headers, cookies }
}

/**
 * A headers middleware's customRequestHeaders: an empty value deletes the header (Go matches
 * names case-insensitively), any other value sets it.
 */
export function applyCustomRequestHeaders(
  request: HeaderLines,
  custom: Record<string, string>,
): HeaderLines {
  const names = Object.keys(custom).map(lower)
  const set = Object.entries(custom).filter(([, value]) => value !== '') as HeaderLines
  return [...without(request, names), ...set]
}
