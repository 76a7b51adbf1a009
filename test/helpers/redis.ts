import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { freePort } from './ports.js'
import { startProcess } from './processes.js'
import type { RunningProcess } from './processes.js'

/** A redis-server on a loopback port, with an append-only file so a restart keeps its data. */
export interface RedisServer {
  readonly port: number
  readonly url: string
  /** Stops the server (SIGTERM to its own pid); its data stays on disk. */
  stop(): Promise<void>
  /** Starts it again on the same port with the same data. */
  restart(): Promise<void>
  /** Stops it and removes its data. */
  close(): Promise<void>
}

/** Starts redis-server from `binary` on a free 127.0.0.1 port. */
export async function startRedis(binary: string): Promise<RedisServer> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'jwtgate-redis-'))
  let running: RunningProcess | undefined

  const launch = async () => {
    running = await startProcess({
      name: 'redis-server',
      command: binary,
      args: [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
      ],
    })
    await waitForPing(port, running)
  }
  const stop = async () => {
    await running?.stop(5_000)
    running = undefined
  }
  await launch()

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    restart: launch,
    close: async () => {
      await stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function waitForPing(port: number, process: RunningProcess): Promise<void> {
  const { connect } = await import('node:net')
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.end('PING\r\n'))
      socket.once('data', (data) => resolve(data.toString().startsWith('+PONG')))
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`redis-server did not answer on port ${port}:\n${process.output()}`)
}
