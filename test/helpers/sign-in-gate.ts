import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { hashPassword } from '../../src/issuer/passwords.js'
import { USERS_FILE, writeUsers } from '../../src/issuer/users.js'
import { startGate } from './gate.js'

import type { Gate } from './gate.js'

/** The one user a {@link startSignInGate} gate knows. */
export const SIGN_IN_USER = {
  username: 'alice',
  password: 'correct horse battery',
  email: 'alice@example.com',
  name: 'Alice Liddell',
  groups: ['grafana-editors'],
} as const

/** Seconds an access token of a {@link startSignInGate} gate lives: the gate's lowest. */
export const SIGN_IN_ACCESS_TTL = 5

/**
 * Starts `jwtgate serve` as its own issuer, with {@link SIGN_IN_USER} in its users file, for
 * browsers that reach it through a proxy at `publicUrl` (JWTGATE_PUBLIC_URL and the issuer).
 * Over plain http, so the cookie is not `Secure`; access tokens live
 * {@link SIGN_IN_ACCESS_TTL} seconds with no clock tolerance, so a test sees a session renewed
 * after waiting a little longer than that.
 */
export async function startSignInGate(publicUrl: string): Promise<Gate> {
  const dataDir = await mkdtemp(join(tmpdir(), 'jwtgate-sign-in-'))
  const { password, ...account } = SIGN_IN_USER
  writeUsers(join(dataDir, USERS_FILE), [
    {
      ...account,
      groups: [...account.groups],
      passwordHash: await hashPassword(password),
      disabled: false,
    },
  ])

  let gate: Gate
  try {
    gate = await startGate({
      JWTGATE_DATA_DIR: dataDir,
      JWTGATE_ISSUER: publicUrl,
      JWTGATE_PUBLIC_URL: publicUrl,
      JWTGATE_COOKIE_SECURE: 'false',
      JWTGATE_ACCESS_TTL: String(SIGN_IN_ACCESS_TTL),
      JWTGATE_CLOCK_TOLERANCE: '0',
      JWTGATE_ROLE_MAP: 'grafana-editors:Editor',
    })
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true })
    throw error
  }

  // startGate removes only the data dir it made itself; this one is the test's.
  return {
    ...gate,
    dataDir,
    stop: async () => {
      const result = await gate.stop()
      await rm(dataDir, { recursive: true, force: true })
      return result
    },
  }
}
