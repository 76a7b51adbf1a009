import { afterAll, beforeAll, expect, it } from 'vitest'

import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { hashPassword } from '../../src/issuer/passwords.js'
import { USERS_FILE, writeUsers } from '../../src/issuer/users.js'
import { startGate } from '../helpers/gate.js'
import { startRedis } from '../helpers/redis.js'
import { describeWithBinary } from '../helpers/requirements.js'
import type { Gate } from '../helpers/gate.js'
import type { RedisServer } from '../helpers/redis.js'

const PASSWORD = 'correct horse battery'

describeWithBinary('redis-server', 'the issuer on two replicas sharing Redis', (binary) => {
  let redis: RedisServer
  let gates: Gate[]

  beforeAll(async () => {
    redis = await startRedis(binary)
    const dataDir = mkdtempSync(join(tmpdir(), 'jwtgate-shared-'))
    const passwordHash = await hashPassword(PASSWORD)
    writeUsers(join(dataDir, USERS_FILE), [
      { username: 'alice', passwordHash, groups: [], disabled: false },
      { username: 'bob', passwordHash, groups: [], disabled: false },
    ])
    const env = { JWTGATE_REDIS_URL: redis.url, JWTGATE_DATA_DIR: dataDir }
    gates = [await startGate(env), await startGate(env)]
  })
  afterAll(async () => {
    await Promise.all((gates ?? []).map((gate) => gate.stop()))
    await redis?.close()
  })

  const post = async (gate: Gate, path: string, form: Record<string, string>) => {
    const response = await fetch(`${gate.url}${path}`, {
      method: 'POST',
      body: new URLSearchParams(form),
    })
    const text = await response.text()
    return {
      status: response.status,
      body: (text ? JSON.parse(text) : {}) as Record<string, string>,
    }
  }
  const login = (gate: Gate, username: string, password = PASSWORD) =>
    post(gate, '/token', { grant_type: 'password', username, password })
  const auth = async (gate: Gate, token: string) =>
    (await fetch(`${gate.url}/auth`, { headers: { authorization: `Bearer ${token}` } })).status

  it('lets one replica refresh what the other issued, once', async () => {
    const [a, b] = gates as [Gate, Gate]
    const { body } = await login(a, 'alice')
    const refreshed = await post(b, '/token', {
      grant_type: 'refresh_token',
      refresh_token: body.refresh_token!,
    })
    expect(refreshed.status).toBe(200)
    expect(await auth(a, refreshed.body.access_token!)).toBe(200)
  })

  it('revokes on one replica and refuses on the other', async () => {
    const [a, b] = gates as [Gate, Gate]
    const { body } = await login(a, 'alice')
    expect(await auth(b, body.access_token!)).toBe(200)
    expect((await post(a, '/revoke', { token: body.access_token! })).status).toBe(200)
    await expect.poll(() => auth(b, body.access_token!), { timeout: 1_000, interval: 10 }).toBe(401)
  })

  it('counts failed sign-ins for a username across replicas', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await login(gates[i % 2]!, 'bob', 'wrong password')).status).toBe(400)
    }
    expect((await login(gates[0]!, 'bob')).status).toBe(429)
    expect((await login(gates[1]!, 'bob')).status).toBe(429)
  })
})
