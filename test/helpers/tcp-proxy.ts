import { createServer } from 'node:net'

import { freePort } from './ports.js'
import type { Socket } from 'node:net'

/** A loopback TCP relay a test can cut, to isolate one client from a server. */
export interface TcpProxy {
  readonly port: number
  /** Drops every relayed connection and refuses new ones. */
  cut(): void
  /** Accepts and relays connections again. */
  heal(): void
  close(): Promise<void>
}

/** Relays 127.0.0.1:<free port> to 127.0.0.1:`targetPort`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const port = await freePort()
  const sockets = new Set<Socket>()
  let open = true

  const server = createServer((client) => {
    if (!open) return client.destroy()
    const upstream = new (client.constructor as typeof Socket)()
    upstream.connect(targetPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => socket.destroy())
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))

  const dropAll = () => {
    for (const socket of sockets) socket.destroy()
  }
  return {
    port,
    cut: () => {
      open = false
      dropAll()
    },
    heal: () => {
      open = true
    },
    close: async () => {
      dropAll()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
