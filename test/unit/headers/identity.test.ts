import { describe, expect, it } from 'vitest'

import { loadConfig } from '../../../src/config/index.js'
import { encodeHeaderValue, mapIdentity, readClaim } from '../../../src/headers/index.js'
import type { IssuerPolicy } from '../../../src/config/index.js'

function policy(env: Record<string, string> = {}): IssuerPolicy {
  return loadConfig(env).config.issuers[0]!
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run()
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

describe('encodeHeaderValue', () => {
  it.each([
    ['alice', 'alice'],
    ['a=b', 'a=3Db'],
    ['Zoë', 'Zo=C3=AB'],
    ['Jean Dupont', 'Jean Dupont'],
    [' padded ', '=20padded=20'],
    ['株式会社', '=E6=A0=AA=E5=BC=8F=E4=BC=9A=E7=A4=BE'],
    ['', ''],
  ])('sends %j quoted-printable as %j', (value, encoded) => {
    expect(encodeHeaderValue(value, 'quoted-printable', 'name')).toBe(encoded)
  })

  it.each(['a\tb', 'a\nb', 'a\rb', 'a\u0000b', 'a\u007fb', 'a\u0085b', 'a\u2028b', 'a\u2029b'])(
    'fails closed on control character in %j',
    (value) => {
      expect(codeOf(() => encodeHeaderValue(value, 'quoted-printable', 'name'))).toBe(
        'ERR_CLAIM_UNSAFE',
      )
      expect(codeOf(() => encodeHeaderValue(value, 'none', 'name'))).toBe('ERR_CLAIM_UNSAFE')
    },
  )

  it('passes ASCII as is and fails closed on non-ASCII with encoding off', () => {
    expect(encodeHeaderValue('a=b c', 'none', 'name')).toBe('a=b c')
    expect(codeOf(() => encodeHeaderValue('Zoë', 'none', 'name'))).toBe('ERR_CLAIM_UNSAFE')
  })
})

describe('readClaim', () => {
  const payload = {
    realm_access: { roles: ['admin', 'viewer'] },
    'https://example.com/groups': ['ns'],
    list: [{ name: 'first' }],
  }

  it.each([
    ['realm_access.roles', ['admin', 'viewer']],
    ['https://example.com/groups', ['ns']],
    ['list.0.name', 'first'],
    ['realm_access.missing', undefined],
    ['__proto__', undefined],
    ['realm_access.constructor', undefined],
  ])('reads %s', (path, value) => {
    expect(readClaim(payload, path)).toEqual(value)
  })
})

describe('mapIdentity', () => {
  const claims = {
    sub: 'u-1',
    preferred_username: 'alice',
    email: 'alice@example.com',
    name: 'Alice',
    groups: ['ops', 'devs'],
  }

  it('maps all five headers in order', () => {
    const identity = mapIdentity(claims, policy(), 'quoted-printable')
    expect(identity.values).toEqual(['alice', 'alice@example.com', 'Alice', 'ops,devs', 'Viewer'])
  })

  it('falls back to sub and leaves absent claims empty', () => {
    const identity = mapIdentity({ sub: 'u-1' }, policy(), 'quoted-printable')
    expect(identity.values).toEqual(['u-1', '', '', '', 'Viewer'])
  })

  it('picks the highest role any group maps to', () => {
    const p = policy({ JWTGATE_ROLE_MAP: 'devs:Editor,ops:Admin,all:Viewer' })
    const identity = mapIdentity({ ...claims, groups: ['all', 'ops', 'devs'] }, p, 'none')
    expect(identity.values[4]).toBe('Admin')
  })

  it('uses the default role when no group matches', () => {
    const p = policy({ JWTGATE_ROLE_MAP: 'ops:Admin', JWTGATE_DEFAULT_ROLE: 'None' })
    expect(mapIdentity({ sub: 'x', groups: ['devs'] }, p, 'none').values[4]).toBe('None')
  })

  it('counts a single-string groups claim as one group', () => {
    expect(mapIdentity({ sub: 'x', groups: 'ops' }, policy(), 'none').values[3]).toBe('ops')
  })

  it('leaves a group with a comma out of the header but keeps it for roles', () => {
    // The env role map splits on commas, so this map is built by hand (a config file allows it).
    const withComma = { ...policy(), roleMap: new Map([['a,b', 'Admin' as const]]) }
    const identity = mapIdentity({ sub: 'x', groups: ['a,b', 'c'] }, withComma, 'none')
    expect(identity.values[3]).toBe('c')
    expect(identity.values[4]).toBe('Admin')
    expect(identity.groups.has('a,b')).toBe(true)
    expect(identity.omittedGroups).toBe(1)
  })

  it('reads nested claim paths such as Keycloak realm roles', () => {
    const p = policy({
      JWTGATE_CLAIM_GROUPS: 'realm_access.roles',
      JWTGATE_ROLE_MAP: 'admin:Admin',
    })
    const identity = mapIdentity({ sub: 'x', realm_access: { roles: ['admin'] } }, p, 'none')
    expect(identity.values.slice(3)).toEqual(['admin', 'Admin'])
  })

  it.each([
    ['groups is a number', { groups: 5 }],
    ['groups holds a number', { groups: ['ok', 5] }],
    ['email is an object', { email: { a: 1 } }],
    ['preferred_username is a number', { preferred_username: 7 }],
  ])('fails closed when %s', (_, extra) => {
    expect(codeOf(() => mapIdentity({ sub: 'x', ...extra }, policy(), 'none'))).toBe(
      'ERR_TOKEN_CLAIM',
    )
  })

  it('fails closed on a CRLF in a claim', () => {
    const run = () =>
      mapIdentity({ sub: 'x', name: 'a\r\nX-WEBAUTH-ROLE: Admin' }, policy(), 'none')
    expect(codeOf(run)).toBe('ERR_CLAIM_UNSAFE')
  })
})
