import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { spawnSync } from 'node:child_process'
import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { REPO_ROOT, startGate } from '../helpers/gate.js'
import { freePort } from '../helpers/ports.js'
import { startProcess } from '../helpers/processes.js'
import type { Gate } from '../helpers/gate.js'

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('JWTGATE_')),
  )
  return { ...env, ...extra }
}

function jwtgate(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, ['bin/jwtgate.js', ...args], {
    cwd: REPO_ROOT,
    env: cleanEnv(env),
    encoding: 'utf8',
  })
}

describe('standalone process', () => {
  let gate: Gate

  beforeAll(async () => {
    gate = await startGate()
  })
  afterAll(() => gate?.stop())

  it('generates its signing key on first start with mode 0600', () => {
    const mode = statSync(join(gate.dataDir, 'keys.json')).mode & 0o777
    expect(mode).toBe(0o600)
  })

  it('accepts a token minted by the CLI from the same data dir', async () => {
    const minted = jwtgate(['token', '--sub', 'svc-1', '--groups', 'bots'], {
      JWTGATE_DATA_DIR: gate.dataDir,
    })
    expect(minted.status).toBe(0)
    const response = await fetch(`${gate.url}/auth`, {
      headers: { authorization: `Bearer ${minted.stdout.trim()}` },
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('x-webauth-user')).toBe('svc-1')
    expect(response.headers.get('x-webauth-groups')).toBe('bots')
  })

  it('never writes a token to its logs', async () => {
    const token = jwtgate(['token', '--sub', 'secretive'], {
      JWTGATE_DATA_DIR: gate.dataDir,
    }).stdout.trim()
    const [, , signature] = token.split('.')
    await fetch(`${gate.url}/auth`, { headers: { authorization: `Bearer ${token}` } })
    await fetch(`${gate.url}/auth`, { headers: { authorization: `Bearer ${token}x` } })
    await fetch(`${gate.url}/auth`, { headers: { cookie: `jwtgate=${token}` } })
    expect(gate.logs()).toContain('"sub":"secretive"')
    expect(gate.logs()).not.toContain(signature!)
  })
})

describe('revocation in standalone mode', () => {
  it('reaches a running gate from the CLI through the data dir', async () => {
    const gate = await startGate()
    try {
      const dir = { JWTGATE_DATA_DIR: gate.dataDir }
      const minted = jwtgate(['token', '--sub', 'bob', '--jti', 'standalone-1'], dir)
      const headers = { authorization: `Bearer ${minted.stdout.trim()}` }
      expect((await fetch(`${gate.url}/auth`, { headers })).status).toBe(200)

      expect(jwtgate(['revoke', '--jti', 'standalone-1'], dir).status).toBe(0)
      await expect
        .poll(async () => (await fetch(`${gate.url}/auth`, { headers })).status, { timeout: 2_000 })
        .toBe(401)

      const listed = jwtgate(['denylist'], dir)
      expect(listed.stdout).toMatch(/^jti\tstandalone-1\tuntil /m)
    } finally {
      await gate.stop()
    }
  })
})

describe('process lifecycle', () => {
  it('drains and exits 0 within 5 seconds of SIGTERM', async () => {
    const gate = await startGate()
    const started = Date.now()
    const result = await gate.stop()
    expect(result.code).toBe(0)
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('stops on a config error with one line per problem and exit code 2', () => {
    const result = jwtgate(['serve'], { JWTGATE_PORT: 'http', JWTGATE_DEFAULT_ROLE: 'Boss' })
    expect(result.status).toBe(2)
    const lines = result.stderr.trim().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/JWTGATE_PORT/)
    expect(lines[1]).toMatch(/JWTGATE_DEFAULT_ROLE/)
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })

  it('passes SIGTERM and the exit code through npm start', async () => {
    const port = await freePort()
    const npm = await startProcess({
      name: 'npm start',
      command: 'npm',
      args: ['start', '--silent'],
      cwd: REPO_ROOT,
      env: cleanEnv({
        JWTGATE_PORT: String(port),
        JWTGATE_HOST: '127.0.0.1',
        JWTGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'jwtgate-npm-')),
      }),
    })
    await npm.waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000, (s) => s === 200)
    const result = await npm.stop(8_000)
    expect(result).toEqual({ code: 0, signal: null })
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow()
  }, 90_000)
})
