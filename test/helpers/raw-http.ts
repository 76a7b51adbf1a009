import { request } from 'node:http'

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'

/** Header lines as sent: names keep their letter case, and a name may appear twice. */
export type HeaderLines = [name: string, value: string][]

/** An answer as the client saw it. `headers` has lower-case names, as Node gives them. */
export interface RawAnswer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

export interface SendOptions {
  method?: string
  body?: string
}

/**
 * Sends one request with exactly `lines` as headers (plus Host, and Content-Length for a body),
 * on its own connection. fetch cannot do this: it folds duplicates and lower-cases names, and a
 * forged header in an unusual spelling is exactly what the proxy tests need to send.
 */
export function send(url: string, lines: HeaderLines = [], options: SendOptions = {}) {
  const target = new URL(url)
  const raw = ['Host', target.host, ...lines.flat()]
  if (options.body !== undefined)
    raw.push('Content-Length', String(Buffer.byteLength(options.body)))

  return new Promise<RawAnswer>((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: raw, agent: false })
    req.once('response', (res) => void readAnswer(res).then(resolve, reject))
    req.once('error', reject)
    req.end(options.body)
  })
}

/** How a websocket upgrade through a proxy ended. */
export type UpgradeResult =
  | { upgraded: true; status: number; headers: IncomingHttpHeaders; echoed: string }
  | ({ upgraded: false } & RawAnswer)

/**
 * Opens a websocket upgrade to `url` with the extra header `lines`. When the proxy answers 101,
 * writes a few bytes through the tunnel and waits until they come back (the stand-in upstream
 * echoes), then closes it; otherwise resolves with the refusal.
 */
export function upgrade(url: string, lines: HeaderLines = []): Promise<UpgradeResult> {
  const target = new URL(url)
  const handshake = [
    ['Host', target.host],
    ['Connection', 'Upgrade'],
    ['Upgrade', 'websocket'],
    ['Sec-WebSocket-Version', '13'],
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
  ]
  const raw = [...handshake, ...lines].flat()

  return new Promise((resolve, reject) => {
    const req = request(url, { headers: raw, agent: false })
    req.once('upgrade', (res: IncomingMessage, socket: Socket) => {
      void echo(socket, 'ping through the tunnel').then(
        (echoed) =>
          resolve({ upgraded: true, status: res.statusCode ?? 0, headers: res.headers, echoed }),
        reject,
      )
    })
    req.once('response', (res) => {
      void readAnswer(res).then((answer) => resolve({ upgraded: false, ...answer }), reject)
    })
    req.once('error', reject)
    req.end()
  })
}

function readAnswer(res: IncomingMessage): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    res.on('data', (chunk: Buffer) => chunks.push(chunk))
    res.once('error', reject)
    res.once('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
    })
  })
}

/** Writes `text` and collects what comes back until it is as long, or 5 s pass. */
function echo(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = ''
    const timer = setTimeout(() => finish(), 5_000)
    const finish = (): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(received)
    }
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8')
      if (received.length >= text.length) finish()
    })
    socket.once('error', reject)
    socket.write(text)
  })
}
