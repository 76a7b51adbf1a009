import { createHash } from 'node:crypto'
import { createServer } from 'node:http'

import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'

import { listenOnLoopback } from './loopback-server.js'

import type { RecordedRequest } from './upstream.js'

/** The cookie the stand-in sets on every answer, so tests can tell its cookies from the gate's. */
export const UPSTREAM_COOKIE = 'grafana_session=upstream; Path=/; HttpOnly'

/** RFC 6455 §1.3: the server proves it read the key by hashing it with this GUID. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** A stand-in for Grafana that records what reaches it, including websocket upgrades. */
export interface LiveUpstream {
  readonly url: string
  /** `host:port`, the form a proxy's upstream address takes. */
  readonly address: string
  /** Every request received, upgrades included, oldest first. */
  readonly requests: RecordedRequest[]
  /** The bodies of those requests, in the same order, as text. */
  readonly bodies: string[]
  close(): Promise<void>
}

/**
 * Starts a Grafana stand-in on a free loopback port. A plain request gets 200, a JSON body of
 * what arrived and {@link UPSTREAM_COOKIE}. A websocket upgrade gets 101 and then echoes every
 * byte back, so a test can see that the tunnel through the proxy works both ways.
 */
export async function startLiveUpstream(): Promise<LiveUpstream> {
  const requests: RecordedRequest[] = []
  const bodies: string[] = []

  const record = (req: IncomingMessage): RecordedRequest => {
    const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers }
    requests.push(recorded)
    return recorded
  }

  const server = createServer((req, res) => {
    const recorded = record(req)
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.once('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'))
      const body = JSON.stringify(recorded)
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'set-cookie': UPSTREAM_COOKIE,
      })
      res.end(body)
    })
  })
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    record(req)
    bodies.push('')
    const accept = createHash('sha1')
      .update(`${req.headers['sec-websocket-key'] ?? ''}${WEBSOCKET_GUID}`)
      .digest('base64')
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    )
    socket.pipe(socket)
  })
  const listener = await listenOnLoopback(server)

  return {
    url: listener.url,
    address: listener.address,
    requests,
    bodies,
    close: listener.close,
  }
}
