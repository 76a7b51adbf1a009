import { serve } from '@hono/node-server'

import type { Hono } from 'hono'
import type { HttpBindings } from '@hono/node-server'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ListenOptions {
  port: number
  host: string
}

/**
 * Starts the HTTP server. Idle keep-alive connections are held longer than nginx's upstream
 * keepalive_timeout (60 s), so nginx never reuses a socket the gate has just closed, which
 * would surface as a 502 on an otherwise good request.
 */
export function listen(
  app: Hono<{ Bindings: HttpBindings }>,
  { port, host }: ListenOptions,
): Promise<{ server: Server; address: AddressInfo }> {
  return new Promise((resolve, reject) => {
    const server = serve({
      fetch: app.fetch,
      port,
      hostname: host,
      // Room for a 16 KiB token plus ordinary headers, so that the gate, not Node, refuses
      // an oversized token and logs why.
      serverOptions: { maxHeaderSize: 32 * 1024 },
    }) as Server
    server.keepAliveTimeout = 75_000
    server.headersTimeout = 80_000
    server.requestTimeout = 90_000
    server.once('error', reject)
    server.once('listening', () => {
      server.off('error', reject)
      resolve({ server, address: server.address() as AddressInfo })
    })
  })
}

/**
 * Stops accepting connections, lets requests in flight finish, and closes idle keep-alive
 * sockets; whatever is still open after `graceMs` is cut.
 */
export function drain(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs)
    timer.unref()
    server.close(() => {
      clearTimeout(timer)
      resolve()
    })
    server.closeIdleConnections()
  })
}
