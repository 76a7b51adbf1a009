import { createServer } from 'node:http'

import { IDENTITY } from './identity-fixtures.js'
import { listenOnLoopback } from './loopback-server.js'

/** A stand-in for Grafana that a browser can look at. */
export interface EchoPageUpstream {
  readonly url: string
  /** `host:port`, the form a proxy's upstream address takes. */
  readonly address: string
  close(): Promise<void>
}

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/**
 * Starts a Grafana stand-in on a free loopback port that answers every request with a small
 * HTML page listing the five identity headers it received, each value in an element whose id
 * is the header's lower-case name (`#x-webauth-user`), empty when the header was absent.
 */
export async function startEchoPageUpstream(): Promise<EchoPageUpstream> {
  const server = createServer((req, res) => {
    const rows = IDENTITY.map((name) => {
      const value = escape(String(req.headers[name] ?? ''))
      return `<dt>${name}</dt><dd id="${name}">${value}</dd>`
    })
    const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stand-in Grafana</title></head>
<body><h1>Stand-in Grafana</h1><p id="path">${escape(req.url ?? '')}</p>
<dl>${rows.join('\n')}</dl></body></html>
`
    req.resume()
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    })
    res.end(body)
  })
  const listener = await listenOnLoopback(server)

  return {
    url: listener.url,
    address: listener.address,
    close: listener.close,
  }
}
