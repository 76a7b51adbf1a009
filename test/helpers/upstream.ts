import { createServer } from 'node:http'

import type { IncomingHttpHeaders } from 'node:http'

import { listenOnLoopback } from './loopback-server.js'

/** One request as the upstream received it. Header names are lower case, as Node gives them. */
export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
}

/** A stand-in for Grafana that records what the proxy forwards to it. */
export interface Upstream {
  readonly url: string
  readonly port: number
  /** `host:port`, the form an nginx `server` line takes. */
  readonly address: string
  /** Every request received, oldest first. */
  readonly requests: RecordedRequest[]
  /** The latest request, or `undefined` when none has arrived. */
  last(): RecordedRequest | undefined
  close(): Promise<void>
}

/**
 * Starts an HTTP server on a free loopback port that answers every request with 200 and a JSON
 * body `{ method, url, headers }` of what it received.
 */
export async function startUpstream(): Promise<Upstream> {
  const requests: RecordedRequest[] = []

  const server = createServer((req, res) => {
    const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers }
    requests.push(recorded)
    // Drain the body first, so a proxied POST does not stall on a full socket buffer.
    req.resume()
    req.once('end', () => {
      const body = JSON.stringify(recorded)
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      })
      res.end(body)
    })
  })
  const listener = await listenOnLoopback(server)

  return {
    url: listener.url,
    port: listener.port,
    address: listener.address,
    requests,
    last: () => requests.at(-1),
    close: listener.close,
  }
}
