import { freePort } from './ports.js'
import type { Server } from 'node:http'
import type { Socket } from 'node:net'

/** Where a stand-in server listens, and how to stop it. */
export interface LoopbackListener {
  readonly port: number
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  /** `127.0.0.1:<port>`, the form a proxy's upstream address takes. */
  readonly address: string
  close(): Promise<void>
}

/**
 * Starts `server` on a free 127.0.0.1 port. `close()` also destroys open connections: proxies
 * keep idle keep-alive connections and tunnels open, and `server.close()` alone would wait on
 * them.
 */
export async function listenOnLoopback(server: Server): Promise<LoopbackListener> {
  const port = await freePort()
  const sockets = new Set<Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    address: `127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
