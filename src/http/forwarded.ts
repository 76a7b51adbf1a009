import { BlockList, isIP, isIPv4 } from 'node:net'

import type { IncomingMessage } from 'node:http'

/** The request the proxy is asking about, as opposed to the auth call itself. */
export interface OriginalRequest {
  method: string
  proto: string
  host: string
  uri: string
}

/** Builds the set of peers whose `X-Forwarded-*` and `X-Original-*` headers are believed. */
export function createTrustedProxies(cidrs: readonly string[]): BlockList {
  const list = new BlockList()
  for (const cidr of cidrs) {
    const [address = '', prefix] = cidr.split('/')
    const family = isIPv4(address) ? 'ipv4' : 'ipv6'
    if (prefix === undefined) list.addAddress(address, family)
    else list.addSubnet(address, Number(prefix), family)
  }
  return list
}

/** Whether the connection's peer is a trusted proxy. IPv4-mapped IPv6 peers count as IPv4. */
export function isTrustedPeer(trusted: BlockList, incoming: IncomingMessage): boolean {
  return isTrustedAddress(trusted, normalise(incoming.socket.remoteAddress ?? ''))
}

function single(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value
  return text === undefined || text === '' ? undefined : text
}

/** A hop list ("https, http") names the client-facing hop first. URIs are never split. */
function first(value: string | string[] | undefined): string | undefined {
  const text = single(value)
  const comma = text?.indexOf(',') ?? -1
  return comma < 0 ? text?.trim() : text?.slice(0, comma).trim()
}

/**
 * The original method, scheme, host and URI: from Traefik's and Caddy's `X-Forwarded-*`,
 * ingress-nginx's `X-Original-URL`, or nginx's `X-Original-*` headers when a trusted proxy sent
 * them, else from the auth call itself. Untrusted peers cannot choose where a login redirect
 * points or what the logs say.
 */
export function originalRequest(incoming: IncomingMessage, trusted: boolean): OriginalRequest {
  const h = incoming.headers
  const own = {
    method: incoming.method ?? 'GET',
    proto: 'http',
    host: h.host ?? '',
    uri: incoming.url ?? '/',
  }
  if (!trusted) return own

  const full = parseUrl(single(h['x-original-url']))
  return {
    method: single(h['x-forwarded-method']) ?? single(h['x-original-method']) ?? own.method,
    proto: first(h['x-forwarded-proto']) ?? full?.protocol.slice(0, -1) ?? own.proto,
    host: first(h['x-forwarded-host']) ?? full?.host ?? own.host,
    uri:
      single(h['x-forwarded-uri']) ??
      (full ? `${full.pathname}${full.search}` : undefined) ??
      single(h['x-original-uri']) ??
      own.uri,
  }
}

function parseUrl(text: string | undefined): URL | undefined {
  if (text === undefined) return undefined
  try {
    const url = new URL(text)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined
  } catch {
    return undefined
  }
}

/**
 * The client's address: the peer itself, or, behind trusted proxies, the right-most
 * `X-Forwarded-For` entry that is not one of them (entries further left are client-supplied).
 */
export function clientAddress(incoming: IncomingMessage, trusted: BlockList): string {
  const peer = normalise(incoming.socket.remoteAddress ?? '')
  if (!isTrustedAddress(trusted, peer)) return peer

  const header = single(incoming.headers['x-forwarded-for'])
  const hops = header ? header.split(',').map((hop) => normalise(hop.trim())) : []
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!
    if (isIP(hop) === 0) break
    if (!isTrustedAddress(trusted, hop)) return hop
  }
  return single(incoming.headers['x-real-ip']) ?? hops[0] ?? peer
}

function normalise(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address
}

function isTrustedAddress(trusted: BlockList, address: string): boolean {
  const family = isIP(address)
  return family !== 0 && trusted.check(address, family === 4 ? 'ipv4' : 'ipv6')
}
