import { describe, expect, it } from 'vitest'

import { keyStates, nextChange, signingKey } from '../../../src/keys/index.js'
import type { KeyringFile, StoredKey } from '../../../src/keys/index.js'

const HOUR = 3_600_000
const T0 = Date.parse('2026-12-01T00:00:00Z')
const schedule = { retireAfter: 24 * 3600 }

function key(kid: string, activatesAt: number): StoredKey {
  return {
    kid,
    alg: 'RS256',
    createdAt: new Date(activatesAt - HOUR).toISOString(),
    activatesAt: new Date(activatesAt).toISOString(),
    privateJwk: { kty: 'RSA' },
  }
}

const ring = (...keys: StoredKey[]): KeyringFile => ({ version: 1, keys })
const states = (keyring: KeyringFile, at: number) =>
  Object.fromEntries(keyStates(keyring, at, schedule).map((s) => [s.key.kid, s.state]))

describe('key rotation schedule', () => {
  // A rotated at T0 + 1 h (B published at T0, signing after a 65-minute lead would be similar).
  const rotated = ring(key('A', T0 - 10 * HOUR), key('B', T0 + HOUR))

  it.each([
    ['before the rotation', T0, { A: 'active', B: 'next' }],
    ['just before activation', T0 + HOUR - 1, { A: 'active', B: 'next' }],
    ['at activation', T0 + HOUR, { A: 'retiring', B: 'active' }],
    ['while old tokens live', T0 + 24 * HOUR, { A: 'retiring', B: 'active' }],
    ['once they have expired', T0 + 25 * HOUR, { A: 'retired', B: 'active' }],
  ])('gives each key its state %s', (_, at, expected) => {
    expect(states(rotated, at)).toEqual(expected)
  })

  it('signs with the active key only', () => {
    expect(signingKey(rotated, T0, schedule).kid).toBe('A')
    expect(signingKey(rotated, T0 + HOUR, schedule).kid).toBe('B')
  })

  it('names the next state change', () => {
    expect(nextChange(rotated, T0, schedule)).toBe(T0 + HOUR)
    expect(nextChange(rotated, T0 + HOUR, schedule)).toBe(T0 + 25 * HOUR)
    expect(nextChange(rotated, T0 + 26 * HOUR, schedule)).toBeUndefined()
  })

  it('lets the earliest key sign when every activation is still ahead', () => {
    expect(states(ring(key('A', T0 + HOUR)), T0)).toEqual({ A: 'active' })
  })
})
