import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'

import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import {
  KEYRING_FILE,
  OwnKeys,
  generateSigningKey,
  readKeyring,
  writeKeyring,
} from '../../../src/keys/index.js'

const HOUR = 3_600_000
const schedule = { retireAfter: 2 * 3600 }

describe('OwnKeys through a rotation', () => {
  let keys: OwnKeys | undefined
  afterEach(() => keys?.close())

  it('publishes the next key first, signs with it on time, and retires the old one', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'jwtgate-own-'))
    let now = Date.now()
    keys = await OwnKeys.open({
      issuer: 'https://auth.test',
      dataDir,
      schedule,
      logger: pino({ level: 'silent' }),
      now: () => now,
    })
    const first = (await keys.signer()).key.kid
    const kids = () => keys!.publishedJWKs().map((jwk) => jwk.kid)
    expect(kids()).toEqual([first])

    // jwtgate keys rotate, with a one-hour lead.
    const file = join(dataDir, KEYRING_FILE)
    const next = await generateSigningKey(new Date(now + HOUR), new Date(now))
    writeKeyring(file, { version: 1, keys: [...readKeyring(file)!.keys, next] })
    await keys.refresh()
    expect(kids()).toEqual([first, next.kid])
    expect((await keys.signer()).key.kid).toBe(first)

    now += HOUR
    await keys.refresh()
    expect((await keys.signer()).key.kid).toBe(next.kid)
    expect(kids()).toEqual([first, next.kid])
    expect(keys.hasKid(first)).toBe(true)

    const removed: string[][] = []
    keys.onRemoved((ids) => removed.push(ids))
    now += schedule.retireAfter * 1000
    await keys.refresh()
    expect(kids()).toEqual([next.kid])
    expect(keys.hasKid(first)).toBe(false)
    expect(removed).toEqual([[first]])
  })
})
