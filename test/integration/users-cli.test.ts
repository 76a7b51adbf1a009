import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { verifyPassword } from '../../src/issuer/passwords.js'
import { REPO_ROOT } from '../helpers/gate.js'

// `users` is not wired into bin/jwtgate.js yet, so the compiled module is called directly; a
// rejection becomes a one-line message and exit code 2, as main() reports a UsageError.
const WRAPPER =
  "import('./dist/cli/users.js').then((m) => m.runUsers(process.argv.slice(1), process.env))" +
  ".catch((e) => { console.error('jwtgate: ' + e.message); process.exitCode = 2 })"

const SOURCES = ['cli/users.ts', 'cli/read-password.ts', 'issuer/users.ts', 'issuer/passwords.ts']
const PASSWORD = 'correct horse battery staple'

/** Builds dist/ when it is missing or older than this feature's sources (vitest run alone). */
function ensureBuilt(): void {
  const built = join(REPO_ROOT, 'dist/cli/users.js')
  const fresh = () =>
    existsSync(built) &&
    SOURCES.every((s) => statSync(join(REPO_ROOT, 'src', s)).mtimeMs <= statSync(built).mtimeMs)
  if (fresh()) return
  const build = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' })
  if (!fresh()) throw new Error(`npm run build did not produce ${built}\n${build.stdout}`)
}

let dataDir: string
const usersFile = () => join(dataDir, 'users.yaml')

function users(args: string[], stdin = '') {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('JWTGATE_')),
  )
  const result = spawnSync(process.execPath, ['-e', WRAPPER, '--', ...args], {
    cwd: REPO_ROOT,
    env: { ...env, JWTGATE_DATA_DIR: dataDir },
    input: stdin,
    encoding: 'utf8',
  })
  return { ...result, output: `${result.stdout}${result.stderr}` }
}

function storedHash(username: string): string {
  const match = new RegExp(`username: ${username}\\n\\s+passwordHash: (\\S+)`).exec(
    readFileSync(usersFile(), 'utf8'),
  )
  return match?.[1]?.replace(/^"|"$/g, '') ?? ''
}

beforeAll(() => {
  ensureBuilt()
  dataDir = join(mkdtempSync(join(tmpdir(), 'jwtgate-users-cli-')), 'data')
}, 120_000)
afterAll(() => rmSync(join(dataDir, '..'), { recursive: true, force: true }))

describe('jwtgate users', () => {
  it('adds a user from a password on stdin into a 0600 file, never echoing it', async () => {
    const args = [
      'add',
      'alice',
      '--email',
      'alice@example.com',
      '--name',
      'Alice A',
      '--groups',
      'admins, ops',
    ]
    const added = users(args, `${PASSWORD}\n`)

    expect(added.status).toBe(0)
    expect(statSync(usersFile()).mode & 0o777).toBe(0o600)
    const text = readFileSync(usersFile(), 'utf8')
    expect(text).not.toContain(PASSWORD)
    expect(added.output).not.toContain(PASSWORD)
    expect(added.output).not.toContain(storedHash('alice'))
    expect(await verifyPassword(PASSWORD, storedHash('alice'))).toBe(true)
  })

  it('lists users without their hashes', () => {
    const listed = users(['list'])
    expect(listed.status).toBe(0)
    expect(listed.stdout.trim().split('\n')).toEqual([
      'alice\talice@example.com\tAlice A\tadmins,ops\tenabled',
    ])
    expect(listed.output).not.toContain('scrypt$')
  })

  it('refuses to add a name that exists in another case', () => {
    const before = readFileSync(usersFile(), 'utf8')
    const again = users(['add', 'ALICE'], 'another password\n')
    expect(again.status).not.toBe(0)
    expect(again.stderr).toContain('passwd')
    expect(readFileSync(usersFile(), 'utf8')).toBe(before)
  })

  it.each([
    ['an empty password', ''],
    ['a bare newline', '\n'],
    ['a password under 8 characters', 'short\n'],
  ])('refuses %s and adds nobody', (_case, stdin) => {
    const refused = users(['add', 'bob'], stdin)
    expect(refused.status).not.toBe(0)
    expect(refused.stderr.trim().split('\n')).toHaveLength(1)
    expect(users(['list']).stdout).not.toContain('bob')
  })

  it('refuses a bad username or group with a usage error', () => {
    expect(users(['add', 'bad name'], `${PASSWORD}\n`).status).not.toBe(0)
    expect(
      users(['add', 'carol', '--groups', 'ops,dev\u0007team'], `${PASSWORD}\n`).status,
    ).not.toBe(0)
    expect(users(['frobnicate', 'alice']).status).not.toBe(0)
    expect(users(['list']).stdout).not.toMatch(/^(bad|carol)/m)
  })

  it('changes the password with passwd, whatever the case of the name', async () => {
    const before = storedHash('alice')
    const changed = users(['passwd', 'Alice'], 'a brand new password\n')

    expect(changed.status).toBe(0)
    expect(changed.output).not.toContain('a brand new password')
    const after = storedHash('alice')
    expect(after).not.toBe(before)
    expect(await verifyPassword('a brand new password', after)).toBe(true)
    expect(await verifyPassword(PASSWORD, after)).toBe(false)
  })

  it('disables and enables a user', () => {
    expect(users(['disable', 'alice']).status).toBe(0)
    expect(users(['list']).stdout).toMatch(/^alice\t.*\tdisabled$/m)
    expect(users(['enable', 'alice']).status).toBe(0)
    expect(users(['list']).stdout).toMatch(/^alice\t.*\tenabled$/m)
  })

  it('removes a user, and refuses to remove one that does not exist', () => {
    expect(users(['remove', 'alice']).status).toBe(0)
    expect(users(['list']).stdout).not.toMatch(/^alice\t/m)
    expect(users(['remove', 'alice']).status).not.toBe(0)
    expect(statSync(usersFile()).mode & 0o777).toBe(0o600)
  })
})
