import { describe, expect, it } from 'vitest'

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { ConfigError, loadConfig } from '../../../src/config/index.js'

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  throw new Error('expected a ConfigError')
}

function configFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'jwtgate-config-')), name)
  writeFileSync(file, text)
  return file
}

describe('loadConfig', () => {
  it('comes up on embedded defaults as a standalone issuer', () => {
    const { config } = loadConfig({})
    expect(config.port).toBe(8080)
    expect(config.host).toBe('0.0.0.0')
    expect(config.algorithms).toEqual(['RS256'])
    expect(config.clockTolerance).toBe(30)
    expect(config.defaultRole).toBe('Viewer')
    expect(config.headerEncoding).toBe('quoted-printable')
    expect(config.selfIssuer).toBe('http://localhost:8080')
    expect(config.issuers).toHaveLength(1)
    expect(config.issuers[0]).toMatchObject({ source: 'self', audience: ['grafana'] })
    expect(config.publicUrl).toBe('http://localhost:8080')
  })

  it('trusts the JWKS for JWTGATE_ISSUER and turns its own issuer off', () => {
    const { config } = loadConfig({
      JWTGATE_JWKS_URL: 'https://idp.example.com/a.json, https://idp.example.com/b.json',
      JWTGATE_ISSUER: 'https://idp.example.com',
    })
    expect(config.selfIssuer).toBeUndefined()
    expect(config.issuers).toEqual([
      expect.objectContaining({
        issuer: 'https://idp.example.com',
        source: 'jwks',
        jwksUrls: ['https://idp.example.com/a.json', 'https://idp.example.com/b.json'],
      }),
    ])
  })

  it('reports every problem at once, each naming its variable', () => {
    const problems = problemsOf({
      JWTGATE_PORT: 'eighty',
      JWTGATE_CLOCK_TOLERANCE: '-5',
      JWTGATE_DEFAULT_ROLE: 'Owner',
      JWTGATE_HEADER_ENCODING: 'base64',
    })
    expect(problems).toHaveLength(4)
    for (const name of ['PORT', 'CLOCK_TOLERANCE', 'DEFAULT_ROLE', 'HEADER_ENCODING']) {
      expect(problems.some((p) => p.startsWith(`JWTGATE_${name}:`))).toBe(true)
    }
    expect(problems.every((p) => p.includes('example:'))).toBe(true)
    expect(problems.find((p) => p.startsWith('JWTGATE_PORT'))).toContain('"eighty"')
  })

  it.each(['none', 'HS256', 'RS256,hs512', 'RS256,XX999'])(
    'refuses JWTGATE_ALGORITHMS=%s',
    (value) => {
      expect(problemsOf({ JWTGATE_ALGORITHMS: value })[0]).toMatch(/^JWTGATE_ALGORITHMS:/)
    },
  )

  it('accepts the asymmetric algorithms as a comma list', () => {
    const { config } = loadConfig({ JWTGATE_ALGORITHMS: 'RS256, ES256,PS256,EdDSA' })
    expect(config.algorithms).toEqual(['RS256', 'ES256', 'PS256', 'EdDSA'])
  })

  it('refuses an unknown JWTGATE_ variable and suggests the closest name', () => {
    const [problem] = problemsOf({ JWTGATE_JWKS_ULR: 'https://idp.example.com/jwks' })
    expect(problem).toMatch(/^JWTGATE_JWKS_ULR: .*JWTGATE_JWKS_URL/)
  })

  it('never quotes a Redis URL, which may hold a password', () => {
    const [problem] = problemsOf({ JWTGATE_REDIS_URL: 'http://user:s3cret@redis:6379' })
    expect(problem).toMatch(/^JWTGATE_REDIS_URL:/)
    expect(problem).not.toContain('s3cret')
  })

  it('parses the role map and refuses unknown roles', () => {
    const { config } = loadConfig({ JWTGATE_ROLE_MAP: 'ops:Admin, devs:Editor,guests:None' })
    expect(Object.fromEntries(config.issuers[0]!.roleMap)).toEqual({
      ops: 'Admin',
      devs: 'Editor',
      guests: 'None',
    })
    expect(problemsOf({ JWTGATE_ROLE_MAP: 'ops:Owner' })[0]).toMatch(/^JWTGATE_ROLE_MAP:/)
  })

  it('accepts JWKS timings down to one second', () => {
    const { config } = loadConfig({ JWTGATE_JWKS_MAX_AGE: '1', JWTGATE_JWKS_COOLDOWN: '1' })
    expect([config.jwksMaxAge, config.jwksCooldown]).toEqual([1, 1])
    expect(problemsOf({ JWTGATE_JWKS_COOLDOWN: '0' })[0]).toMatch(/^JWTGATE_JWKS_COOLDOWN:/)
  })

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ JWTGATE_REDIS_URL: '', JWTGATE_PORT: '' }).config.port).toBe(8080)
  })

  it('warns about a plain-http JWKS URL that is not loopback', () => {
    const loopback = loadConfig({ JWTGATE_JWKS_URL: 'http://127.0.0.1:9000/jwks' })
    const remote = loadConfig({ JWTGATE_JWKS_URL: 'http://idp.internal/jwks' })
    expect(loopback.warnings).toEqual([])
    expect(remote.warnings).toHaveLength(1)
  })
})

describe('config file', () => {
  const yaml = `
issuers:
  - issuer: https://keycloak.example.com/realms/main
    jwksUrl: https://keycloak.example.com/realms/main/certs
    audience: [grafana, account]
    claims:
      groups: realm_access.roles
    roleMap: { grafana-admin: Admin }
  - issuer: https://login.example.org
    jwksUrl: [https://login.example.org/jwks]
    algorithms: [ES256]
defaultRole: None
`

  it('reads several issuers, each with its own audience, claims and role map', () => {
    const { config } = loadConfig({ JWTGATE_CONFIG: configFile('gate.yaml', yaml) })
    const [keycloak, other] = config.issuers
    expect(keycloak).toMatchObject({ audience: ['grafana', 'account'], defaultRole: 'None' })
    expect(keycloak!.claims.groups).toEqual(['realm_access.roles'])
    expect(keycloak!.roleMap.get('grafana-admin')).toBe('Admin')
    expect(other).toMatchObject({ algorithms: ['ES256'], audience: ['grafana'] })
    expect(config.selfIssuer).toBeUndefined()
  })

  it('lets environment variables override the file', () => {
    const file = configFile('gate.json', JSON.stringify({ port: 9000, logLevel: 'debug' }))
    const { config } = loadConfig({ JWTGATE_CONFIG: file, JWTGATE_PORT: '9100' })
    expect([config.port, config.logLevel]).toEqual([9100, 'debug'])
  })

  it('names the file and the key path of a bad nested value', () => {
    const file = configFile('bad.yaml', 'issuers:\n  - issuer: x\n    jwksUrl: ftp://nope\n')
    const problems = problemsOf({ JWTGATE_CONFIG: file })
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(`${file}: issuers[0].jwksUrl`)
  })

  it('refuses unknown keys, which would otherwise be silent holes', () => {
    const file = configFile('typo.yaml', 'jwks_url: https://idp.example.com/jwks\n')
    expect(problemsOf({ JWTGATE_CONFIG: file })[0]).toContain('jwks_url')
  })

  it('enables its own issuer beside a JWKS only under a name of its own', () => {
    const good = configFile('self.yaml', 'self: { issuer: https://auth.example.com }\n')
    const env = { JWTGATE_JWKS_URL: 'https://idp.example.com/jwks', JWTGATE_CONFIG: good }
    expect(loadConfig(env).config.selfIssuer).toBe('https://auth.example.com')

    const bare = configFile('bare.yaml', 'self: { enabled: true }\n')
    expect(problemsOf({ ...env, JWTGATE_CONFIG: bare })[0]).toMatch(/^self\.issuer:/)
  })

  it('reports an unreadable file under JWTGATE_CONFIG', () => {
    expect(problemsOf({ JWTGATE_CONFIG: '/nonexistent/gate.yaml' })[0]).toMatch(/^JWTGATE_CONFIG:/)
  })

  it('reports a file that is not YAML', () => {
    const file = configFile('broken.yaml', 'port: [1,\n')
    expect(problemsOf({ JWTGATE_CONFIG: file })[0]).toContain(file)
  })
})
