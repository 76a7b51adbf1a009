import { Hono } from 'hono'

import { createAuthHandler } from './auth-handler.js'
import { createBrowserRoutes } from './browser-routes.js'
import { createIssuerRoutes } from './issuer-routes.js'
import { createRevocationRoute } from './revocation-route.js'
import type { AuthDeps } from './auth-handler.js'
import type { IssuerRouteDeps } from './issuer-routes.js'
import type { DenylistStatus } from '../denylist/index.js'
import type { KeySourceStatus } from '../keys/index.js'
import type { HttpBindings } from '@hono/node-server'

export interface Readiness {
  /** Every trusted issuer's key status and the denylist's freshness. */
  check(now: number): { ready: boolean; issuers: KeySourceStatus[]; denylist: DenylistStatus }
  /** True once SIGTERM arrived: the gate drains and tells Kubernetes to stop sending. */
  draining(): boolean
}

export interface AppDeps extends AuthDeps {
  readiness: Readiness
  /** The gate's own issuer; its routes and the sign-in pages are absent when it is off. */
  issuer: IssuerRouteDeps | undefined
  /** JWTGATE_REDIRECT_HOSTS, for the sign-in page's `rd`. */
  redirectHosts: readonly string[]
  /** RFC 7009 revocation, always on. */
  revoke: (token: string, actor: string) => Promise<void>
}

/** The gate's HTTP surface: auth decisions, probes, metrics and, when on, the issuer. */
export function createApp(deps: AppDeps): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>()

  // Proxies send the original method (Envoy) or GET (nginx, Traefik, Caddy); all are judged
  // alike. Envoy's ext_authz appends the original path to its path prefix.
  const auth = createAuthHandler('auth', deps)
  const forwardAuth = createAuthHandler('forward-auth', deps)
  app.all('/auth', auth)
  app.all('/forward-auth', forwardAuth)
  app.all('/forward-auth/*', forwardAuth)

  app.get('/healthz', (c) => c.json({ status: 'ok' }))
  app.get('/readyz', (c) => {
    const state = deps.readiness.check(Date.now())
    const ready = state.ready && !deps.readiness.draining()
    const body = {
      status: ready ? 'ready' : 'not ready',
      draining: deps.readiness.draining(),
      ...state,
    }
    return c.json(body, ready ? 200 : 503, { 'Cache-Control': 'no-store' })
  })
  app.get('/metrics', async (c) => {
    const registry = deps.metrics.registry
    return c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType })
  })

  const { revoke, trustedProxies, logger } = deps
  app.route('/', createRevocationRoute({ revoke, trustedProxies, logger }))
  if (deps.issuer) app.route('/', createIssuerRoutes(deps.issuer))
  if (deps.session) {
    const { session, redirectHosts } = deps
    app.route('/', createBrowserRoutes({ session, redirectHosts, trustedProxies, logger }))
  }

  app.notFound((c) => c.json({ error: 'not_found' }, 404))
  app.onError((err, c) => {
    deps.logger.error({ err, path: c.req.path }, 'unhandled error')
    return c.json({ error: 'server_error' }, 500)
  })
  return app
}
