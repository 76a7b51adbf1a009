import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { startJWKSServer } from '../../helpers/jwks-server.js'
import { startInProcessGate } from '../../helpers/in-process-gate.js'
import { createSigningKey, jwks, signToken } from '../../helpers/tokens.js'
import type { InProcessGate } from '../../helpers/in-process-gate.js'
import type { JWKSServer } from '../../helpers/jwks-server.js'
import type { SigningKey } from '../../helpers/tokens.js'

const KEYCLOAK = 'https://keycloak.test/realms/main'
const OTHER = 'https://login.other.test'

let keycloakKey: SigningKey
let otherKey: SigningKey
let servers: JWKSServer[]
let gate: InProcessGate

beforeAll(async () => {
  keycloakKey = await createSigningKey('RS256')
  otherKey = await createSigningKey('ES256')
  servers = [
    await startJWKSServer(jwks(keycloakKey).keys),
    await startJWKSServer(jwks(otherKey).keys),
  ]
  const file = join(mkdtempSync(join(tmpdir(), 'jwtgate-issuers-')), 'gate.yaml')
  writeFileSync(
    file,
    `issuers:
  - issuer: ${KEYCLOAK}
    jwksUrl: ${servers[0]!.url}
    audience: [grafana, account]
    claims: { groups: realm_access.roles }
    roleMap: { grafana-admin: Admin }
  - issuer: ${OTHER}
    jwksUrl: ${servers[1]!.url}
    algorithms: [ES256]
    audience: dashboards
    defaultRole: None
`,
  )
  gate = await startInProcessGate({ JWTGATE_CONFIG: file })
})
afterAll(async () => {
  await gate?.close()
  for (const server of servers ?? []) await server.close()
})

async function ask(token: string) {
  const response = await fetch(`${gate.url}/auth`, {
    headers: { authorization: `Bearer ${token}` },
  })
  return {
    status: response.status,
    user: response.headers.get('x-webauth-user'),
    groups: response.headers.get('x-webauth-groups'),
    role: response.headers.get('x-webauth-role'),
  }
}

describe('several trusted issuers', () => {
  it('maps each issuer with its own claims, audience and roles', async () => {
    const keycloak = await signToken(keycloakKey, {
      iss: KEYCLOAK,
      aud: 'account',
      sub: 'k-1',
      realm_access: { roles: ['grafana-admin'] },
    })
    expect(await ask(keycloak)).toEqual({
      status: 200,
      user: 'k-1',
      groups: 'grafana-admin',
      role: 'Admin',
    })

    const other = await signToken(otherKey, { iss: OTHER, aud: 'dashboards', sub: 'o-1' })
    expect(await ask(other)).toMatchObject({ status: 200, user: 'o-1', role: 'None' })
  })

  it("refuses a token whose iss names one issuer but whose key is another's", async () => {
    const before = servers[1]!.requests
    const crossed = await signToken(keycloakKey, { iss: OTHER, aud: 'dashboards', sub: 'x' })
    expect((await ask(crossed)).status).toBe(401)

    // The RS256 header is refused by the issuer's ES256-only allowlist before any key lookup.
    expect(servers[1]!.requests).toBe(before)
  })

  it("refuses one issuer's audience on another issuer's token", async () => {
    const token = await signToken(otherKey, { iss: OTHER, aud: 'grafana', sub: 'o-1' })
    expect((await ask(token)).status).toBe(401)
  })

  it('refuses an issuer that is not configured', async () => {
    const token = await signToken(keycloakKey, {
      iss: 'https://evil.test',
      aud: 'grafana',
      sub: 'x',
    })
    expect((await ask(token)).status).toBe(401)
  })
})
