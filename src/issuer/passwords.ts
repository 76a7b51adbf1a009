import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

import type { ScryptOptions } from 'node:crypto'

/**
 * scrypt parameters of new hashes: N=2^15, r=8, p=1, a 16-byte salt and a 32-byte key. One hash
 * takes 32 MiB and, measured on the idle 2-core development machine (Node 20.20), 90–120 ms
 * (100–300 ms while other work loads it); two run in parallel in about 120 ms, four in about
 * 230 ms. That cost bounds the password grants a gate can answer: about 16 per second on two
 * cores.
 */
export const SCRYPT_DEFAULTS = { N: 2 ** 15, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const

/**
 * Memory one scrypt call may take. Node's default (32 MiB) is too tight for N=2^15, r=8 by a few
 * KiB; stating it also bounds what a stored hash can ask for, whatever its parameters say.
 */
const MAX_MEMORY = 64 * 1024 * 1024

// Ceilings on stored parameters, so an edited users file cannot make one login run for minutes.
const MAX_N = 2 ** 20
const MAX_R = 16
const MAX_P = 4

const PREFIX = 'scrypt'
const BASE64URL = /^[A-Za-z0-9_-]+$/
const DECIMAL = /^[1-9]\d{0,7}$/

interface ScryptHash {
  N: number
  r: number
  p: number
  salt: Buffer
  hash: Buffer
}

function deriveKey(password: string, salt: Buffer, bytes: number, options: ScryptOptions) {
  return new Promise<Buffer>((resolve, reject) => {
    // NFC, so a password typed as composed or decomposed Unicode hashes the same (RFC 8265 §4.2).
    scrypt(
      password.normalize('NFC'),
      salt,
      bytes,
      { ...options, maxmem: MAX_MEMORY },
      (err, key) => (err ? reject(err) : resolve(key)),
    )
  })
}

/**
 * Hashes a password with scrypt and a random salt. The result is self-describing,
 * `scrypt$<N>$<r>$<p>$<salt b64url>$<hash b64url>`, so the parameters can be raised later
 * without breaking stored hashes. Takes about 100 ms of one core and 32 MiB (see
 * {@link SCRYPT_DEFAULTS}); call it through a {@link createHashLimiter} limiter on a server.
 */
export async function hashPassword(password: string): Promise<string> {
  const { N, r, p, saltBytes, keyBytes } = SCRYPT_DEFAULTS
  const salt = randomBytes(saltBytes)
  const hash = await deriveKey(password, salt, keyBytes, { N, r, p })
  return [PREFIX, N, r, p, salt.toString('base64url'), hash.toString('base64url')].join('$')
}

/**
 * Checks a password against a hash from {@link hashPassword}, with the parameters stored in the
 * hash. Answers false, never throws, for a wrong password, an unknown format, or parameters
 * beyond N=2^20, r=16, p=4 or 64 MiB of memory.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parseHash(encoded)
  if (!parsed) return false
  try {
    const { N, r, p, salt, hash } = parsed
    const computed = await deriveKey(password, salt, hash.length, { N, r, p })
    return timingSafeEqual(computed, hash)
  } catch {
    // scrypt refuses parameters it cannot run (memory limit): such a hash matches nothing.
    return false
  }
}

let dummyHash: Promise<string> | undefined

/**
 * Spends the work of one real verification and answers false, so a login for an unknown user
 * takes about as long as a wrong password and does not reveal which names exist. The dummy hash
 * it checks against is computed on first use, which therefore costs two hashes.
 *
 * Limitation: the dummy uses the current parameters. A user whose stored hash has other
 * parameters answers in that hash's time, which tells an observer the name exists; it stops
 * once `jwtgate users passwd` rehashes the password.
 */
export async function verifyUnknownUser(password: string): Promise<false> {
  dummyHash ??= hashPassword(randomBytes(16).toString('base64url'))
  await verifyPassword(password, await dummyHash)
  return false
}

function parseHash(encoded: string): ScryptHash | undefined {
  const parts = encoded.split('$')
  if (parts.length !== 6 || parts[0] !== PREFIX) return undefined
  const [, nText, rText, pText, saltText, hashText] = parts as [string, ...string[]]
  if (![nText, rText, pText].every((part) => DECIMAL.test(part ?? ''))) return undefined
  if (![saltText, hashText].every((part) => BASE64URL.test(part ?? ''))) return undefined

  const [N, r, p] = [Number(nText), Number(rText), Number(pText)]
  const powerOfTwo = N > 1 && (N & (N - 1)) === 0
  if (!powerOfTwo || N > MAX_N || r > MAX_R || p > MAX_P) return undefined

  // OpenSSL's scrypt needs 128·r·(N+p+2) bytes; refusing here spares the allocation attempt.
  if (128 * r * (N + p + 2) > MAX_MEMORY) return undefined

  const salt = Buffer.from(saltText!, 'base64url')
  const hash = Buffer.from(hashText!, 'base64url')
  if (salt.length < 8 || hash.length < 16 || hash.length > 64) return undefined
  return { N, r, p, salt, hash }
}

/** A login was refused because too many password hashes are already waiting. */
export class HashBusyError extends Error {
  readonly code = 'ERR_HASH_BUSY'

  constructor() {
    super('too many password checks waiting; try again shortly')
    this.name = 'HashBusyError'
  }
}

export interface HashLimiterOptions {
  /** Hashes running at once; default 2 (one per core here, 32 MiB each). */
  concurrency?: number
  /** Hashes allowed to wait for a slot; one more is refused. Default 32. */
  queue?: number
}

/** Runs password hashes with bounded concurrency and a bounded queue. */
export interface HashLimiter {
  /**
   * Runs `fn` when a slot is free. Rejects with {@link HashBusyError} (`ERR_HASH_BUSY`) at once
   * when `queue` calls are already waiting.
   */
  run<T>(fn: () => Promise<T>): Promise<T>
  /** Calls running now. */
  readonly active: number
  /** Calls waiting for a slot. */
  readonly waiting: number
}

/**
 * Creates a limiter for password hashing, so a flood of logins costs at most `concurrency`
 * hashes of CPU and memory at a time and at most `queue` waiting callers, instead of piling up
 * scrypt work (and 32 MiB each) until the process runs out of memory.
 */
export function createHashLimiter({
  concurrency = 2,
  queue = 32,
}: HashLimiterOptions = {}): HashLimiter {
  if (!(concurrency >= 1) || !(queue >= 0)) throw new TypeError('invalid hash limiter options')
  let active = 0
  const waiters: (() => void)[] = []

  const release = (): void => {
    const next = waiters.shift()
    if (next) next()
    else active--
  }

  const limiter: HashLimiter = {
    async run<T>(fn: () => Promise<T>): Promise<T> {
      if (active < concurrency) active++
      else if (waiters.length >= queue) throw new HashBusyError()
      // The slot passes straight from the releasing call to this one, so `active` stays put.
      else await new Promise<void>((resolve) => waiters.push(resolve))
      try {
        return await fn()
      } finally {
        release()
      }
    },
    get active() {
      return active
    },
    get waiting() {
      return waiters.length
    },
  }
  return limiter
}
