import { describe, expect, it } from 'vitest'

import { checkTokenShape, extractToken } from '../../../src/verify/index.js'
import type { CredentialHeaders } from '../../../src/verify/index.js'

const A = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl'
const B = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiIn0.c2lnbmF0dXJl'

function codeOf(headers: CredentialHeaders): string | undefined {
  try {
    checkTokenShape(extractToken(headers, 'jwtgate').token)
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

describe('extractToken', () => {
  it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('matches the %s scheme', (scheme) => {
    expect(extractToken({ authorization: `${scheme} ${A}` }, 'jwtgate')).toEqual({
      token: A,
      source: 'bearer',
    })
  })

  it('reads the session cookie among others', () => {
    const cookie = `theme=dark; jwtgate=${A}; other=1`
    expect(extractToken({ cookie }, 'jwtgate')).toEqual({ token: A, source: 'cookie' })
  })

  it('accepts the same token as bearer and cookie', () => {
    expect(
      extractToken({ authorization: `Bearer ${A}`, cookie: `jwtgate=${A}` }, 'jwtgate').token,
    ).toBe(A)
  })

  it.each<[string, CredentialHeaders, string]>([
    ['no credentials', {}, 'ERR_TOKEN_MISSING'],
    ['another scheme only', { authorization: 'Basic dXNlcjpwYXNz' }, 'ERR_TOKEN_MISSING'],
    ['an empty cookie', { cookie: 'jwtgate=' }, 'ERR_TOKEN_MISSING'],
    ['a bare Bearer', { authorization: 'Bearer' }, 'ERR_TOKEN_MALFORMED'],
    ['two bearer values', { authorization: `Bearer ${A}, Bearer ${B}` }, 'ERR_TOKEN_MALFORMED'],
    ['a JWE', { authorization: 'Bearer a.b.c.d.e' }, 'ERR_TOKEN_MALFORMED'],
    ['a non-JWT', { authorization: 'Bearer hello' }, 'ERR_TOKEN_MALFORMED'],
    [
      'a 16 KiB token',
      { authorization: `Bearer ${A}${'x'.repeat(16 * 1024)}` },
      'ERR_TOKEN_TOO_LARGE',
    ],
    [
      'bearer and cookie differ',
      { authorization: `Bearer ${A}`, cookie: `jwtgate=${B}` },
      'ERR_TOKEN_AMBIGUOUS',
    ],
    ['two different cookies', { cookie: `jwtgate=${A}; jwtgate=${B}` }, 'ERR_TOKEN_AMBIGUOUS'],
    [
      'two Authorization headers',
      { authorization: `Bearer ${A}`, authorizationCount: 2 },
      'ERR_TOKEN_AMBIGUOUS',
    ],
    [
      'a broken bearer beside a cookie',
      { authorization: 'Bearer x', cookie: `jwtgate=${A}` },
      'ERR_TOKEN_MALFORMED',
    ],
  ])('refuses %s', (_, headers, code) => {
    expect(codeOf(headers)).toBe(code)
  })
})
