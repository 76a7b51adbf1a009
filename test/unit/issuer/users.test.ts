import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { USERS_FILE, UserStore, readUsers, writeUsers } from '../../../src/issuer/users.js'
import type { User } from '../../../src/issuer/users.js'

const HASH =
  'scrypt$32768$8$1$c2VjcmV0LXNhbHQtdmFsdWU$c2VjcmV0LWhhc2gtdmFsdWUtdGhhdC1tdXN0LW5vdC1sZWFr'

function user(username: string, extra: Partial<User> = {}): User {
  return { username, passwordHash: HASH, groups: [], disabled: false, ...extra }
}

function captureLogs() {
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) })
  return { logger, lines, text: () => JSON.stringify(lines) }
}

let dir: string
let file: string
const stores: UserStore[] = []

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'jwtgate-users-'))
  file = join(dir, 'data', USERS_FILE)
})
afterEach(() => {
  for (const store of stores.splice(0)) store.close()
  rmSync(dir, { recursive: true, force: true })
})

function open(logger = captureLogs().logger): UserStore {
  const store = UserStore.open(file, logger, { pollMs: 20 })
  stores.push(store)
  return store
}

/** Replaces the file with hand-written text, as an editor saving by rename would. */
function writeRaw(text: string): void {
  writeFileSync(`${file}.edit`, text, { mode: 0o600 })
  renameSync(`${file}.edit`, file)
}

describe('users file', () => {
  it('round-trips users through a 0600 file written atomically', () => {
    const users = [
      user('alice', { email: 'alice@example.com', name: 'Alice Ö', groups: ['admins', 'ops'] }),
      user('bob.smith@corp', { disabled: true }),
    ]
    writeUsers(file, users)

    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readUsers(file)).toEqual(users)
    expect(readdirSync(join(dir, 'data'))).toEqual([USERS_FILE])
  })

  it('reads a missing file as no users', () => {
    expect(readUsers(file)).toEqual([])
  })

  it('fills in the optional fields of a hand-written entry', () => {
    writeUsers(file, [])
    writeRaw(`users:\n  - username: carol\n    passwordHash: "${HASH}"\n`)
    expect(readUsers(file)).toEqual([user('carol')])
  })

  const entry = (fields: string) => `users:\n  - passwordHash: "${HASH}"\n${fields}`
  it.each([
    ['a username with a space', entry('    username: "al ice"\n'), 'users[0].username'],
    [
      'a username of 65 characters',
      entry(`    username: ${'a'.repeat(65)}\n`),
      'users[0].username',
    ],
    ['a group with a comma', entry('    username: a\n    groups: ["x,y"]\n'), 'users[0].groups[0]'],
    ['an empty group', entry('    username: a\n    groups: [""]\n'), 'users[0].groups[0]'],
    ['a control character in a name', entry('    username: a\n    name: "A\\u0085"\n'), 'name'],
    ['a misspelt field', entry('    username: a\n    disable: true\n'), 'users[0].disable'],
    ['a disabled flag that is text', entry('    username: a\n    disabled: "yes"\n'), 'disabled'],
    ['no password hash', 'users:\n  - username: a\n', 'users[0].passwordHash'],
    [
      'a name twice, in two cases',
      `${entry('    username: Al\n')}  - username: al\n    passwordHash: x\n`,
      'users[1].username',
    ],
    ['no users key', `people: []\n`, 'users'],
    ['text that is not YAML', `users: [\n  - "${HASH}`, 'YAML'],
    ['an empty file', '', 'empty'],
  ])('names the file and the problem for %s, without the hash', (_case, text, where) => {
    writeUsers(file, [])
    writeRaw(text)
    const error = (() => {
      try {
        readUsers(file)
      } catch (err) {
        return err as Error
      }
    })()
    expect(error?.message).toContain(file)
    expect(error?.message).toContain(where)
    expect(error?.message).not.toContain('c2VjcmV0')
  })

  it('refuses to write an invalid user and leaves the file as it was', () => {
    writeUsers(file, [user('alice')])
    expect(() => writeUsers(file, [user('alice'), user('ALICE')])).toThrow(file)
    expect(() => writeUsers(file, [user('bad name')])).toThrow('username')
    expect(readUsers(file)).toEqual([user('alice')])
  })
})

describe('UserStore', () => {
  it('finds a user whatever the case of the name', () => {
    writeUsers(file, [user('Alice.Smith')])
    const store = open()
    expect(store.get('alice.smith')?.username).toBe('Alice.Smith')
    expect(store.get('ALICE.SMITH')?.username).toBe('Alice.Smith')
    expect(store.get('alice')).toBeUndefined()
    expect(store.size).toBe(1)
  })

  it('starts with no users when the file does not exist, then sees the first one', async () => {
    const store = open()
    expect(store.size).toBe(0)
    writeUsers(file, [user('alice')])
    await expect.poll(() => store.get('alice')?.username, { timeout: 3_000 }).toBe('alice')
  })

  it('picks up a change to the file and logs the count without hashes', async () => {
    writeUsers(file, [user('alice')])
    const logs = captureLogs()
    const store = open(logs.logger)
    writeUsers(file, [user('alice', { disabled: true }), user('bob')])

    await expect.poll(() => store.size, { timeout: 3_000 }).toBe(2)
    expect(store.get('alice')?.disabled).toBe(true)
    expect(logs.lines).toContainEqual(expect.objectContaining({ level: 30, users: 2 }))
    expect(logs.text()).not.toContain('c2VjcmV0')
  })

  it('keeps the last good users when a rewrite is broken', async () => {
    writeUsers(file, [user('alice')])
    const logs = captureLogs()
    const store = open(logs.logger)
    writeRaw('users:\n  - username: "not valid"\n')

    await expect
      .poll(() => logs.lines.some((line) => line.level === 40), { timeout: 3_000 })
      .toBe(true)
    expect(store.get('alice')?.username).toBe('alice')
    expect(String(logs.lines.find((line) => line.level === 40)?.reason)).toContain(file)

    writeUsers(file, [user('bob')])
    await expect.poll(() => store.get('bob')?.username, { timeout: 3_000 }).toBe('bob')
    expect(store.get('alice')).toBeUndefined()
  })

  it('refuses to open a broken file', () => {
    writeUsers(file, [])
    writeRaw('users: 3\n')
    expect(() => open()).toThrow(file)
  })

  it('warns when the file is readable by other users', () => {
    writeUsers(file, [user('alice')])
    chmodSync(file, 0o644)
    const logs = captureLogs()
    open(logs.logger)
    expect(logs.lines).toContainEqual(expect.objectContaining({ level: 40, file }))
  })
})
