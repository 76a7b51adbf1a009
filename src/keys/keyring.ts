import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose'

import {
  chmodSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'

import type { CryptoKey, JWK } from 'jose'

/** Lifecycle of one signing key: published before it signs, published until its tokens expire. */
export type KeyState = 'next' | 'active' | 'retiring' | 'retired'

export interface StoredKey {
  kid: string
  alg: 'RS256'
  state: KeyState
  createdAt: string
  /** Private JWK; the file holding it is mode 0600 and it never leaves this module's callers. */
  privateJwk: JWK
}

export interface KeyringFile {
  version: 1
  keys: StoredKey[]
}

export interface OpenedKeyring {
  file: string
  keyring: KeyringFile
  created: boolean
}

/** File name of the keyring inside the data dir. */
export const KEYRING_FILE = 'keys.json'

/** Creates one RS256 key pair with its thumbprint as `kid`. */
export async function generateSigningKey(state: KeyState): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 })
  const privateJwk = await exportJWK(privateKey)
  const kid = await calculateJwkThumbprint(privateJwk)
  return { kid, alg: 'RS256', state, createdAt: new Date().toISOString(), privateJwk }
}

/**
 * Reads the keyring from `dataDir`, creating it with one active key on first start. Creation is
 * atomic (write a temporary file, then hard-link it into place), so two processes starting on
 * one empty volume end up with the same key.
 */
export async function openKeyring(dataDir: string): Promise<OpenedKeyring> {
  const file = join(dataDir, KEYRING_FILE)
  const existing = readKeyring(file)
  if (existing) return { file, keyring: existing, created: false }

  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const keyring: KeyringFile = { version: 1, keys: [await generateSigningKey('active')] }
  const temporary = `${file}.${process.pid}.tmp`
  writeFileSync(temporary, JSON.stringify(keyring, null, 2), { mode: 0o600 })
  try {
    linkSync(temporary, file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const winner = readKeyring(file)
    if (winner) return { file, keyring: winner, created: false }
  } finally {
    unlinkSync(temporary)
  }
  return { file, keyring, created: true }
}

/** Replaces the keyring file atomically, keeping mode 0600. */
export function writeKeyring(file: string, keyring: KeyringFile): void {
  const temporary = `${file}.${process.pid}.tmp`
  writeFileSync(temporary, JSON.stringify(keyring, null, 2), { mode: 0o600 })
  chmodSync(temporary, 0o600)

  // rename(2) replaces the target in one step, so a reader never sees half a file.
  renameSync(temporary, file)
}

/** Reads and checks a keyring file; undefined when it does not exist. */
export function readKeyring(file: string): KeyringFile | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const parsed = JSON.parse(text) as KeyringFile
  if (parsed?.version !== 1 || !Array.isArray(parsed.keys) || parsed.keys.length === 0) {
    throw new Error(`${file} is not a jwtgate keyring`)
  }
  return parsed
}

/** Whether a key file can be read by other users (a Secret mounted 0644, say). */
export function isExposed(file: string): boolean {
  return (statSync(file).mode & 0o077) !== 0
}

/** The key that signs new tokens. */
export function activeKey(keyring: KeyringFile): StoredKey {
  const key = keyring.keys.find((k) => k.state === 'active')
  if (!key) throw new Error('keyring has no active key')
  return key
}

/** Imports a stored key for signing. */
export async function importSigningKey(key: StoredKey): Promise<CryptoKey> {
  return (await importJWK(key.privateJwk, key.alg)) as CryptoKey
}

/** Public JWKs of every key that verifiers should know: all but retired ones. */
export function publishedJWKs(keyring: KeyringFile): JWK[] {
  return keyring.keys
    .filter((key) => key.state !== 'retired')
    .map(({ kid, alg, privateJwk }) => ({
      kty: privateJwk.kty,
      n: privateJwk.n,
      e: privateJwk.e,
      kid,
      alg,
      use: 'sig',
    }))
}
