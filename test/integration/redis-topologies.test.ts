import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { RedisDenylist, createRedisClient } from '../../src/denylist/index.js'
import { RedisRefreshStore } from '../../src/issuer/redis-refresh-store.js'
import { freePort } from '../helpers/ports.js'
import { startProcess } from '../helpers/processes.js'
import { describeWithBinary, findBinary } from '../helpers/requirements.js'
import type { RunningProcess } from '../helpers/processes.js'

const logger = pino({ level: 'silent' })
const times = { clockTolerance: 30, maxTokenLifetime: 3600 }
const by = { actor: 'test' }

async function redisServer(binary: string, args: string[]): Promise<RunningProcess> {
  const server = await startProcess({ name: 'redis-server', command: binary, args })
  return server
}

function cli(args: string[]): string {
  return execFileSync(findBinary('redis-cli') ?? 'redis-cli', args, { encoding: 'utf8' })
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const denylistOn = async (url: string) => {
  const denylist = new RedisDenylist({
    ...times,
    logger,
    client: await createRedisClient(url),
    maxStale: 300,
  })
  await denylist.start()
  return denylist
}

async function sharesRevocations(url: string) {
  const [a, b] = [await denylistOn(url), await denylistOn(url)]
  const exp = Math.floor(Date.now() / 1000) + 600
  await a.revokeToken('topology-1', exp, by)
  await a.revokeSubject('topology-user', Math.floor(Date.now() / 1000), by)
  const token = { sub: 'x', iat: undefined, jti: 'topology-1' }
  await expect
    .poll(() => b.isRevoked(token, Date.now()), { timeout: 1_000, interval: 10 })
    .toBe(true)

  // A replica that starts later loads what is already there.
  const c = await denylistOn(url)
  expect(c.isRevoked({ sub: 'topology-user', iat: 1, jti: undefined }, Date.now())).toBe(true)
  await Promise.all([a.close(), b.close(), c.close()])
}

describeWithBinary('redis-server', 'Redis Cluster and Sentinel', (binary) => {
  const dir = mkdtempSync(join(tmpdir(), 'jwtgate-topologies-'))
  const servers: RunningProcess[] = []
  afterAll(async () => {
    for (const server of servers) await server.stop(5_000)
    rmSync(dir, { recursive: true, force: true })
  })

  describe('a three-master cluster', () => {
    let url: string

    beforeAll(async () => {
      const ports = [await freePort(), await freePort(), await freePort()]
      for (const port of ports) {
        servers.push(
          await redisServer(binary, [
            ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
            ...['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`],
            ...['--save', '', '--appendonly', 'no'],
          ]),
        )
      }
      const nodes = ports.map((port) => `127.0.0.1:${port}`)
      await until(() => {
        try {
          return cli(['-p', String(ports[0]), 'ping']).includes('PONG')
        } catch {
          return false
        }
      }, 'cluster nodes')
      cli(['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'])
      await until(
        () =>
          ports.every((p) =>
            cli(['-p', String(p), 'cluster', 'info']).includes('cluster_state:ok'),
          ),
        'cluster_state:ok',
      )
      url = `redis+cluster://${nodes.slice(0, 2).join(',')}`
    }, 30_000)

    it('shares revocations between replicas', () => sharesRevocations(url))

    it('consumes a refresh token once', async () => {
      const store = new RedisRefreshStore(await createRedisClient(url))
      const record = {
        family: 'f',
        sub: 'alice',
        familyStartedAt: 1,
        exp: Math.floor(Date.now() / 1000) + 60,
      }
      await store.save('id-1', record)
      const now = Math.floor(Date.now() / 1000)
      const results = await Promise.all([store.consume('id-1', now), store.consume('id-1', now)])
      expect(results.map((r) => r.status).sort()).toEqual(['fresh', 'reused'])
      await store.close()
    })
  })

  describe('a master watched by Sentinel', () => {
    let url: string

    beforeAll(async () => {
      const [master, sentinel] = [await freePort(), await freePort()]
      servers.push(
        await redisServer(binary, ['--port', String(master), '--bind', '127.0.0.1', '--save', '']),
      )
      const conf = join(dir, 'sentinel.conf')
      writeFileSync(
        conf,
        [
          `port ${sentinel}`,
          'bind 127.0.0.1',
          `sentinel monitor jwtgate-test 127.0.0.1 ${master} 1`,
          'sentinel down-after-milliseconds jwtgate-test 2000',
          '',
        ].join('\n'),
      )
      servers.push(await redisServer(binary, [conf, '--sentinel']))
      await until(() => {
        try {
          return cli(['-p', String(sentinel), 'sentinel', 'master', 'jwtgate-test']).includes(
            'master',
          )
        } catch {
          return false
        }
      }, 'sentinel')
      url = `redis+sentinel://127.0.0.1:${sentinel}/jwtgate-test`
    }, 30_000)

    it('shares revocations between replicas', () => sharesRevocations(url))
  })
})
