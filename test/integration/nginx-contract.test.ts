import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'

import { spawnSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'

import { REPO_ROOT } from '../helpers/gate.js'
import { ALICE_CLAIMS, ALICE_HEADERS, identityOf } from '../helpers/identity-fixtures.js'
import { readMetric } from '../helpers/in-process-gate.js'
import { SHIPPED_NGINX_CACHE_CONF, SHIPPED_NGINX_CONF, startNginx } from '../helpers/nginx.js'
import { describeProxyContract } from '../helpers/proxy-contract.js'
import { send } from '../helpers/raw-http.js'
import { describeSignInThroughProxy } from '../helpers/sign-in-contract.js'

import type { Nginx } from '../helpers/nginx.js'
import type { ContractContext } from '../helpers/proxy-contract.js'
import type { HeaderLines } from '../helpers/raw-http.js'

describeProxyContract(
  {
    binary: 'nginx',
    title: 'shipped nginx config, end to end',
    authPath: '/auth',
    start: async (addresses) => {
      const nginx = await startNginx(addresses)
      return { url: nginx.url, logs: nginx.errorLog, stop: nginx.stop }
    },
  },
  (context) => {
    registerNginxTests(context)
    registerCacheTests(context)
  },
)

// Both files, since the variant's cache sits on the same path as the renewal's Set-Cookie.
for (const [variant, confFile] of [
  ['shipped nginx config', SHIPPED_NGINX_CONF],
  ['auth-cache variant', SHIPPED_NGINX_CACHE_CONF],
]) {
  describeSignInThroughProxy({
    binary: 'nginx',
    title: `browser sign-in through the ${variant}`,
    start: async (addresses) => {
      const nginx = await startNginx({ ...addresses, confFile })
      return { url: nginx.url, logs: nginx.errorLog, stop: nginx.stop }
    },
  })
}

const bearer = (token: string): HeaderLines => [['Authorization', `Bearer ${token}`]]

function registerNginxTests({ proxy, through, tokenFor }: ContractContext): void {
  it('keeps its auth location out of clients reach', async () => {
    const token = await tokenFor(ALICE_CLAIMS)

    const answer = await send(`${proxy().url}/_jwtgate/auth`, bearer(token))

    expect(answer.status).toBe(404)
    expect(answer.headers['x-webauth-user']).toBeUndefined()
  })

  // nginx's default is 8k per header line: a larger token would get 400 before the gate.
  it('takes a token larger than a default header buffer, as bearer and as cookie', async () => {
    const token = await tokenFor({ ...ALICE_CLAIMS, padding: 'x'.repeat(9_000) })
    expect(token.length).toBeGreaterThan(10_000)

    const asBearer = await through('/d/abc', bearer(token))
    const asCookie = await through('/d/abc', [['Cookie', `theme=dark; jwtgate=${token}`]])

    expect(asBearer.answer.status).toBe(200)
    expect(identityOf(asBearer.forwarded[0])).toEqual(ALICE_HEADERS)
    expect(asCookie.answer.status).toBe(200)
    expect(identityOf(asCookie.forwarded[0])).toEqual(ALICE_HEADERS)
  })

  // An auth answer head beyond proxy_buffer_size (one page by default) is a 500.
  it('passes an answer listing hundreds of groups', async () => {
    const groups = Array.from({ length: 300 }, (_, i) => `group-${String(i).padStart(4, '0')}-name`)
    const token = await tokenFor({ ...ALICE_CLAIMS, groups })

    const { answer, forwarded } = await through('/d/abc', bearer(token))

    expect(answer.status).toBe(200)
    expect(forwarded[0]?.headers['x-webauth-groups']).toBe(groups.join(','))
  })
}

function registerCacheTests({ gate, upstream, tokenFor, through }: ContractContext): void {
  describe('with the auth-cache variant', () => {
    let cached: Nginx

    beforeAll(async () => {
      cached = await startNginx({
        confFile: SHIPPED_NGINX_CACHE_CONF,
        jwtgate: gate().address,
        grafana: upstream().address,
      })
    })
    afterAll(async () => {
      await cached?.stop()
    })

    const decisions = (code: string) =>
      readMetric(gate().url, 'jwtgate_decisions_total', { endpoint: 'auth', code })
    const get = async (lines: HeaderLines) => {
      const before = upstream().requests.length
      const answer = await send(`${cached.url}/d/abc`, lines)
      return { answer, forwarded: upstream().requests.slice(before) }
    }

    it('asks the gate once for a credential it answered moments ago', async () => {
      const token = await tokenFor({ ...ALICE_CLAIMS, jti: 'cache-once' })
      const before = await decisions('OK')

      const results = [await get(bearer(token)), await get(bearer(token)), await get(bearer(token))]

      expect(results.map(({ answer }) => answer.status)).toEqual([200, 200, 200])
      expect(results.map(({ forwarded }) => identityOf(forwarded[0]))).toEqual([
        ALICE_HEADERS,
        ALICE_HEADERS,
        ALICE_HEADERS,
      ])
      expect(await decisions('OK')).toBe(before + 1)
    })

    it('keeps answers apart per credential and never keeps a refusal', async () => {
      const alice = await tokenFor({ ...ALICE_CLAIMS, jti: 'cache-alice' })
      const bob = await tokenFor({ sub: 'u-bob', preferred_username: 'bob' })
      const missing = await decisions('ERR_TOKEN_MISSING')

      await get(bearer(alice))
      const asBob = await get(bearer(bob))
      const bare = [await get([]), await get([])]
      const asCookie = await get([['Cookie', `jwtgate=${bob}`]])

      expect(identityOf(asBob.forwarded[0])['x-webauth-user']).toBe('bob')
      expect(bare.map(({ answer }) => answer.status)).toEqual([401, 401])
      expect(await decisions('ERR_TOKEN_MISSING')).toBe(missing + 2)
      expect(identityOf(asCookie.forwarded[0])['x-webauth-user']).toBe('bob')
    })

    // The trade-off the variant's comments state, pinned down: the cache outlives a revocation.
    it('lets a token revoked moments ago in from its cache, unlike the shipped config', async () => {
      const token = await tokenFor({ ...ALICE_CLAIMS, jti: 'cache-revoked' })
      await get(bearer(token))

      const revoke = spawnSync(
        process.execPath,
        ['bin/jwtgate.js', 'revoke', '--jti', 'cache-revoked'],
        {
          cwd: REPO_ROOT,
          env: { PATH: process.env.PATH ?? '', JWTGATE_DATA_DIR: gate().dataDir },
          encoding: 'utf8',
        },
      )
      expect(revoke.status, revoke.stderr).toBe(0)
      // The running gate follows the journal the command appends to.
      await vi.waitFor(
        async () => expect((await through('/d/abc', bearer(token))).answer.status).toBe(401),
        { timeout: 5_000, interval: 100 },
      )

      expect((await get(bearer(token))).answer.status).toBe(200)
    })

    it('replaces forged headers on an answer taken from its cache', async () => {
      const token = await tokenFor({ ...ALICE_CLAIMS, jti: 'cache-forged' })
      await get(bearer(token))

      const { forwarded } = await get([
        ...bearer(token),
        ['X-WEBAUTH-ROLE', 'Admin'],
        ['X-WEBAUTH-USER', 'admin'],
      ])

      expect(identityOf(forwarded[0])).toEqual(ALICE_HEADERS)
    })
  })

  it('the auth-cache variant differs from the shipped config by its cache lines alone', async () => {
    const plain = directives(await readFile(SHIPPED_NGINX_CONF, 'utf8'))
    const variant = directives(await readFile(SHIPPED_NGINX_CACHE_CONF, 'utf8'))

    const cacheLines = variant.filter((line) =>
      /^proxy_(cache|ignore_headers)|^inactive=/.test(line),
    )
    expect(cacheLines.length).toBeGreaterThanOrEqual(6)
    expect(variant.filter((line) => !cacheLines.includes(line))).toEqual(plain)
  })
}

/** The config's directive lines, trimmed, without comments or blank lines. */
function directives(config: string): string[] {
  return config
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line !== '')
}
