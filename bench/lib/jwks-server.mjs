// The identity provider stand-in: serves one JWKS file. Its own process, so the runner's event
// loop (busy reading wrk output) never delays a gate's key fetch.
// Usage: node jwks-server.mjs <jwks.json> <port>
import { readFileSync } from 'node:fs'
import http from 'node:http'

const [file, port] = process.argv.slice(2)
const body = readFileSync(file)
const issuer = `http://127.0.0.1:${port}`
const discovery = JSON.stringify({ issuer, jwks_uri: `${issuer}/.well-known/jwks.json` })
let fetches = 0

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/.well-known/jwks.json') {
    fetches++
    res.writeHead(200, {
      'Content-Type': 'application/jwk-set+json',
      'Content-Length': body.length,
      'Cache-Control': 'public, max-age=600',
    })
    res.end(body)
  } else if (req.method === 'GET' && req.url === '/.well-known/openid-configuration') {
    res.writeHead(200, { 'Content-Type': 'application/json' })
    res.end(discovery)
  } else if (req.method === 'GET' && req.url === '/stats') {
    // How often gates fetched the keys: a gate that refetches per request shows up here.
    res.writeHead(200, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify({ fetches }))
  } else {
    res.writeHead(404, { 'Content-Length': 0 })
    res.end()
  }
})

server.listen(Number(port), '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
