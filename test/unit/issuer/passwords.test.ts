import { describe, expect, it } from 'vitest'

import { scryptSync } from 'node:crypto'

import {
  HashBusyError,
  createHashLimiter,
  hashPassword,
  verifyPassword,
  verifyUnknownUser,
} from '../../../src/issuer/passwords.js'

const PASSWORD = 'correct horse battery staple'

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

async function median(runs: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    await fn()
    times.push(performance.now() - start)
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!
}

describe('password hashes', () => {
  it('verifies the password it was made from and nothing else', async () => {
    const encoded = await hashPassword(PASSWORD)
    expect(encoded).toMatch(/^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/)
    expect(await verifyPassword(PASSWORD, encoded)).toBe(true)
    expect(await verifyPassword(`${PASSWORD}!`, encoded)).toBe(false)
    expect(await verifyPassword('', encoded)).toBe(false)
  })

  it('salts every hash, so one password hashes differently twice', async () => {
    const [a, b] = await Promise.all([hashPassword(PASSWORD), hashPassword(PASSWORD)])
    expect(a).not.toBe(b)
  })

  it('treats composed and decomposed Unicode as the same password', async () => {
    const encoded = await hashPassword('caf\u00e9-au-lait')
    expect(await verifyPassword('cafe\u0301-au-lait', encoded)).toBe(true)
  })

  it('verifies a hash made with other parameters than the current ones', async () => {
    const salt = Buffer.from('0123456789abcdef')
    const hash = scryptSync(PASSWORD, salt, 32, { N: 1024, r: 4, p: 2 })
    const encoded = `scrypt$1024$4$2$${salt.toString('base64url')}$${hash.toString('base64url')}`
    expect(await verifyPassword(PASSWORD, encoded)).toBe(true)
  })

  it('refuses a hash whose bytes were changed', async () => {
    const encoded = await hashPassword(PASSWORD)
    const last = encoded.at(-2) === 'A' ? 'B' : 'A'
    const tampered = `${encoded.slice(0, -2)}${last}${encoded.at(-1)}`
    expect(await verifyPassword(PASSWORD, tampered)).toBe(false)
  })

  const salt = 'MDEyMzQ1Njc4OWFiY2RlZg'
  const hash = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
  it.each([
    ['N above 2^20', `scrypt$2097152$8$1$${salt}$${hash}`],
    ['r above 16', `scrypt$1024$17$1$${salt}$${hash}`],
    ['p above 4', `scrypt$1024$8$5$${salt}$${hash}`],
    ['N=2^20 with r=16 (2 GiB)', `scrypt$1048576$16$4$${salt}$${hash}`],
    ['N=2^16 with r=8 (past 64 MiB)', `scrypt$65536$8$1$${salt}$${hash}`],
    ['N not a power of two', `scrypt$1000$8$1$${salt}$${hash}`],
    ['N written with a sign', `scrypt$+1024$8$1$${salt}$${hash}`],
    ['a salt that is not base64url', `scrypt$1024$8$1$${salt}=$${hash}`],
    ['a 4-byte salt', `scrypt$1024$8$1$AAAAAA$${hash}`],
    ['a 4-byte hash', `scrypt$1024$8$1$${salt}$AAAAAA`],
    ['a missing part', `scrypt$1024$8$1$${salt}`],
    ['another scheme', `$2b$12$${salt}${hash}`],
    ['an empty string', ''],
  ])('answers false at once for %s', async (_case, encoded) => {
    const start = performance.now()
    expect(await verifyPassword(PASSWORD, encoded)).toBe(false)
    expect(performance.now() - start).toBeLessThan(1_000)
  })

  it('takes about as long for an unknown user as for a wrong password', async () => {
    const encoded = await hashPassword(PASSWORD)
    await verifyUnknownUser('warm-up computes the dummy hash')

    const wrong = await median(5, () => verifyPassword('not the password', encoded))
    const unknown = await median(5, () => verifyUnknownUser('not the password'))
    expect(await verifyUnknownUser(PASSWORD)).toBe(false)
    expect(unknown / wrong).toBeGreaterThan(0.5)
    expect(unknown / wrong).toBeLessThan(2)
  })
})

describe('hash limiter', () => {
  it('runs at most `concurrency` calls at once and queues the rest in order', async () => {
    const limiter = createHashLimiter({ concurrency: 2, queue: 8 })
    const gates = Array.from({ length: 5 }, deferred)
    const started: number[] = []
    let running = 0
    let peak = 0
    const runs = gates.map((gate, i) =>
      limiter.run(async () => {
        started.push(i)
        peak = Math.max(peak, ++running)
        await gate.promise
        running--
        return i
      }),
    )
    await Promise.resolve()
    expect([limiter.active, limiter.waiting]).toEqual([2, 3])

    for (const gate of gates) gate.resolve()
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3, 4])
    expect(peak).toBe(2)
    expect(started).toEqual([0, 1, 2, 3, 4])
    expect([limiter.active, limiter.waiting]).toEqual([0, 0])
  })

  it('refuses with ERR_HASH_BUSY once `queue` calls wait', async () => {
    const limiter = createHashLimiter({ concurrency: 1, queue: 2 })
    const gate = deferred()
    const accepted = [1, 2, 3].map(() => limiter.run(() => gate.promise))

    const refused = limiter.run(async () => 'never runs')
    await expect(refused).rejects.toBeInstanceOf(HashBusyError)
    await expect(refused).rejects.toMatchObject({ code: 'ERR_HASH_BUSY' })

    gate.resolve()
    await Promise.all(accepted)
    await expect(limiter.run(async () => 'ok')).resolves.toBe('ok')
  })

  it('frees the slot of a call that fails', async () => {
    const limiter = createHashLimiter({ concurrency: 1, queue: 0 })
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    await expect(limiter.run(async () => 'next')).resolves.toBe('next')
    expect(limiter.active).toBe(0)
  })
})
