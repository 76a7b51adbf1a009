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

export interface StoredKey {
  kid: string
  alg: 'RS256'
  createdAt: string
  /** When it starts signing; until then it is only published, so caches learn it first. */
  activatesAt: string
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

/** Creates one RS256 key pair with its thumbprint as `kid`, signing from `activatesAt`. */
export async function generateSigningKey(activatesAt: Date, now = new Date()): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 })
  const privateJwk = await exportJWK(privateKey)
  const kid = await calculateJwkThumbprint(privateJwk)
  return {
    kid,
    alg: 'RS256',
    createdAt: now.toISOString(),
    activatesAt: activatesAt.toISOString(),
    privateJwk,
  }
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
  const keyring: KeyringFile = { version: 1, keys: [await generateSigningKey(new Date())] }
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
  const valid = parsed?.version === 1 && Array.isArray(parsed.keys) && parsed.keys.length > 0
  if (!valid || !parsed.keys.every((key) => key.kid && key.activatesAt && key.privateJwk?.d)) {
    throw new Error(`${file} is not a jwtgate keyring`)
  }
  return parsed
}

/** Whether a key file can be read by other users (a Secret mounted 0644, say). */
export function isExposed(file: string): boolean {
  return (statSync(file).mode & 0o077) !== 0
}

/** Imports a stored key for signing. */
export async function importSigningKey(key: StoredKey): Promise<CryptoKey> {
  return (await importJWK(key.privateJwk, key.alg)) as CryptoKey
}

/** The public JWK of a stored key, as published. */
export function publicJWK({ kid, alg, privateJwk }: StoredKey): JWK {
  return { kty: privateJwk.kty, n: privateJwk.n, e: privateJwk.e, kid, alg, use: 'sig' }
}
