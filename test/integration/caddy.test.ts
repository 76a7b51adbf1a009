import { expect, it } from 'vitest'

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

import { SHIPPED_CADDYFILE, startCaddy, substituteCaddyAddresses } from '../helpers/caddy.js'
import { describeProxyContract } from '../helpers/proxy-contract.js'
import { findBinary } from '../helpers/requirements.js'
import { describeSignInThroughProxy } from '../helpers/sign-in-contract.js'

describeProxyContract(
  {
    binary: 'caddy',
    title: 'shipped Caddyfile, end to end',
    authPath: '/forward-auth',
    start: async (addresses) => {
      const caddy = await startCaddy(addresses)
      return { url: caddy.url, logs: caddy.logs, stop: caddy.stop }
    },
  },
  () => {
    // Caddy warns at every start about a file that `caddy fmt` would change.
    it('ships a Caddyfile in the layout caddy fmt gives it', () => {
      const shipped = readFileSync(SHIPPED_CADDYFILE, 'utf8')

      const formatted = spawnSync(findBinary('caddy')!, ['fmt', SHIPPED_CADDYFILE], {
        encoding: 'utf8',
      })

      expect(formatted.status).toBe(0)
      expect(formatted.stdout).toBe(shipped)
    })
  },
)

describeSignInThroughProxy({
  binary: 'caddy',
  title: 'browser sign-in through the shipped Caddyfile',
  start: async (addresses) => {
    const caddy = await startCaddy(addresses)
    return { url: caddy.url, logs: caddy.logs, stop: caddy.stop }
  },
})

it('points the Caddyfile at test addresses by rewriting only the four addresses', () => {
  const shipped = readFileSync(SHIPPED_CADDYFILE, 'utf8')

  const substituted = substituteCaddyAddresses(shipped, {
    site: 'http://127.0.0.1:1',
    jwtgate: '127.0.0.1:2',
    grafana: '127.0.0.1:3',
  })

  const changed = substituted.split('\n').filter((line, i) => line !== shipped.split('\n')[i])
  expect(changed.map((line) => line.trim())).toEqual([
    'http://127.0.0.1:1 {',
    'reverse_proxy 127.0.0.1:2',
    'forward_auth 127.0.0.1:2 {',
    'reverse_proxy 127.0.0.1:3 {',
  ])
})
