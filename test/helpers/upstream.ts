import { createServer } from 'node:http'

import type { IncomingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'

import { freePort } from './ports.js'

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
  const port = await freePort()
  const requests: RecordedRequest[] = []
  const sockets = new Set<Socket>()

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
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    address: `127.0.0.1:${port}`,
    requests,
    last: () => requests.at(-1),
    close: async () => {
      // nginx keeps idle keep-alive connections open; without this, close() would wait on them.
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
