import { createServer } from 'node:http'

import { listenOnLoopback } from './loopback-server.js'

import type { RecordedRequest } from './upstream.js'

/** The cookie an allowing answer of the stand-in renews. */
export const RENEWED_COOKIE = 'jwtgate=renewed-session; Path=/; HttpOnly; Secure; SameSite=Lax'
/** The cookie a refusing answer of the stand-in clears. */
export const CLEARED_COOKIE = 'jwtgate=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax'

/** The identity an allowing answer of the stand-in carries. */
export const STAND_IN_IDENTITY = {
  'x-webauth-user': 'stand-in',
  'x-webauth-email': 'stand-in@example.com',
  'x-webauth-name': 'Stand In',
  'x-webauth-groups': 'ops',
  'x-webauth-role': 'Editor',
}

/** Like the gate's: a fixed empty body, never a chunked one. */
const EMPTY = { 'content-length': '0' }

/** A gate stand-in that records the auth calls it gets. */
export interface AuthStandIn {
  readonly url: string
  /** `host:port`, the form a proxy's upstream address takes. */
  readonly address: string
  /** Every auth call, oldest first. */
  readonly requests: RecordedRequest[]
  /** Total body bytes received across all auth calls. */
  bodyBytes(): number
  close(): Promise<void>
}

/**
 * Starts a stand-in for the gate whose answers set cookies, which the gate itself does not do
 * yet: `Authorization: Bearer allow` gets 200 with the five identity headers and
 * {@link RENEWED_COOKIE}; anything else gets 401 with a Bearer challenge and
 * {@link CLEARED_COOKIE}. It answers on every path, so it serves as `/auth` and `/forward-auth`.
 */
export async function startAuthStandIn(): Promise<AuthStandIn> {
  const requests: RecordedRequest[] = []
  let bodyBytes = 0

  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length))
    req.once('end', () => {
      if (req.headers.authorization === 'Bearer allow') {
        res.writeHead(200, { ...STAND_IN_IDENTITY, 'set-cookie': RENEWED_COOKIE, ...EMPTY })
      } else {
        res.writeHead(401, {
          'www-authenticate': 'Bearer realm="jwtgate", error="invalid_token"',
          'set-cookie': CLEARED_COOKIE,
          ...EMPTY,
        })
      }
      res.end()
    })
  })
  const listener = await listenOnLoopback(server)

  return {
    url: listener.url,
    address: listener.address,
    requests,
    bodyBytes: () => bodyBytes,
    close: listener.close,
  }
}
