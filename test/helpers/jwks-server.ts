import { createServer } from 'node:http'

import type { JWK } from 'jose'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

import { freePort } from './ports.js'

/**
 * How the server answers: `ok` serves the keys, `down` answers 500, `garbage` a non-JSON body,
 * `empty` `{"keys":[]}`, `slow` the keys after a delay, and `refuse` closes the listening socket
 * so connections are refused.
 */
export type JWKSMode = 'ok' | 'down' | 'garbage' | 'empty' | 'slow' | 'refuse'

/** The path the server serves its JWKS on. */
export const JWKS_PATH = '/.well-known/jwks.json'

/** A JWKS endpoint on 127.0.0.1 whose keys and failures a test controls. */
export interface JWKSServer {
  /** Full URL of the JWKS document, stable across `refuse` and back. */
  readonly url: string
  readonly port: number
  /** JWKS requests answered or refused so far (any path counts). */
  readonly requests: number
  setKeys(keys: JWK[]): void
  /** Switches the mode; `slowMs` (default 2000) is the delay of `slow`. */
  setMode(mode: JWKSMode, slowMs?: number): Promise<void>
  resetRequests(): void
  close(): Promise<void>
}

/** Starts a {@link JWKSServer} on a free loopback port, serving `keys` in mode `ok`. */
export async function startJWKSServer(keys: JWK[] = []): Promise<JWKSServer> {
  const port = await freePort()
  const state = { keys, mode: 'ok' as JWKSMode, slowMs: 2_000, requests: 0 }
  const sockets = new Set<Socket>()
  const pendingTimers = new Set<NodeJS.Timeout>()

  const server = createServer((req, res) => {
    state.requests += 1
    answer(req, res, state, pendingTimers)
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await listen(server, port)

  // Closing the listener alone keeps pooled keep-alive sockets working; drop them too, so the
  // gate sees the outage on its next fetch whatever its HTTP client pools.
  const shutDown = async (): Promise<void> => {
    for (const timer of pendingTimers) clearTimeout(timer)
    pendingTimers.clear()
    for (const socket of sockets) socket.destroy()
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  return {
    url: `http://127.0.0.1:${port}${JWKS_PATH}`,
    port,
    get requests() {
      return state.requests
    },
    setKeys: (next) => {
      state.keys = next
    },
    setMode: async (mode, slowMs = 2_000) => {
      state.mode = mode
      state.slowMs = slowMs
      if (mode === 'refuse') await shutDown()
      else if (!server.listening) await listen(server, port)
    },
    resetRequests: () => {
      state.requests = 0
    },
    close: shutDown,
  }
}

interface JWKSState {
  keys: JWK[]
  mode: JWKSMode
  slowMs: number
}

function answer(
  req: IncomingMessage,
  res: ServerResponse,
  state: JWKSState,
  timers: Set<NodeJS.Timeout>,
): void {
  if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://x').pathname !== JWKS_PATH) {
    send(res, 404, 'application/json', '{"error":"not found"}')
    return
  }

  const keys = JSON.stringify({ keys: state.keys })
  switch (state.mode) {
    case 'down':
      return send(res, 500, 'text/plain', 'internal error')
    case 'garbage':
      return send(res, 200, 'application/json', '<html>this is not JSON')
    case 'empty':
      return send(res, 200, 'application/json', '{"keys":[]}')
    case 'slow': {
      const timer = setTimeout(() => {
        timers.delete(timer)
        send(res, 200, 'application/json', keys)
      }, state.slowMs)
      timers.add(timer)
      return
    }
    default:
      return send(res, 200, 'application/json', keys)
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  if (res.destroyed) return
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
}
