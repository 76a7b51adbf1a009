import { createServer } from 'node:net'

/**
 * Finds a TCP port that is free on 127.0.0.1 by letting the kernel pick one, then releasing it.
 *
 * Another process may take the port between this call and its use; on a test machine the window
 * is short enough that the suites accept that risk.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      if (address === null || typeof address === 'string') {
        server.close()
        reject(new Error('listening socket reported no TCP port'))
        return
      }
      server.close(() => resolve(address.port))
    })
  })
}
