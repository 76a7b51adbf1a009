// Baseline: the same HTTP stack as jwtgate (hono + @hono/node-server) answering /auth with fixed
// identity headers and no verification. jwtgate / baseline is then the cost of everything the
// gate does on top of the framework, measured on the same machine in the same minute.
// Env: PORT (required), HOST (default 127.0.0.1).
import { serve } from '@hono/node-server'
import { Hono } from 'hono'

const IDENTITY = {
  'X-WEBAUTH-USER': 'user0',
  'X-WEBAUTH-EMAIL': 'user0@bench.example',
  'X-WEBAUTH-NAME': 'Bench User 0',
  'X-WEBAUTH-GROUPS': 'editors,bench',
  'X-WEBAUTH-ROLE': 'Viewer',
  // Explicit, as the gate must: a chunked auth answer stops nginx reusing its upstream connection.
  'Content-Length': '0',
}

const app = new Hono()
app.get('/auth', (c) => c.body(null, 200, IDENTITY))

const server = serve({
  fetch: app.fetch,
  port: Number(process.env.PORT),
  hostname: process.env.HOST ?? '127.0.0.1',
})

process.on('SIGTERM', () => server.close(() => process.exit(0)))
