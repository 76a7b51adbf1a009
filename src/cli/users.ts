import { join } from 'node:path'
import { parseArgs } from 'node:util'

import { loadConfig } from '../config/index.js'
import { hashPassword } from '../issuer/passwords.js'
import {
  USERNAME_RULE,
  USERS_FILE,
  findUserProblem,
  isValidUsername,
  readUsers,
  writeUsers,
} from '../issuer/users.js'
import { readNewPassword } from './read-password.js'
import { UsageError } from './usage-error.js'
import type { User } from '../issuer/users.js'

const ACTIONS = ['add', 'passwd', 'remove', 'list', 'disable', 'enable'] as const
type Action = (typeof ACTIONS)[number]

// Access tokens are verified without a user lookup, so taking an account away does not end them.
const UNTIL_EXP =
  'tokens already issued stay valid until they expire ("jwtgate revoke --sub" ends them)'

interface AddOptions {
  email?: string | undefined
  name?: string | undefined
  groups?: string | undefined
}

/**
 * `jwtgate users add|passwd|remove|list|disable|enable`: manages the users file in the data dir.
 * `add NAME [--email E] [--name N] [--groups a,b]` and `passwd NAME` read the password from
 * standard input. A running gate sees each change within a second. Throws UsageError for a bad
 * command line, an unknown user, or an unusable password; output never holds a password or hash.
 */
export async function runUsers(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { action, username, options } = parseCommand(args)
  const file = join(loadConfig(env).config.dataDir, USERS_FILE)
  switch (action) {
    case 'list':
      return listUsers(file)
    case 'add':
      return addUser(file, username, options)
    case 'passwd':
      return changePassword(file, username)
    case 'remove':
      return removeUser(file, username)
    case 'disable':
    case 'enable':
      return setDisabled(file, username, action === 'disable')
  }
}

function parseCommand(args: string[]): { action: Action; username: string; options: AddOptions } {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        email: { type: 'string' },
        name: { type: 'string' },
        groups: { type: 'string' },
      },
    })
  } catch (err) {
    // parseArgs explains unknown options and missing values well; only its type is wrong here.
    throw new UsageError((err as Error).message)
  }

  const { positionals, values } = parsed
  const [action, username, ...extra] = positionals
  if (!ACTIONS.includes(action as Action)) {
    const problem = action === undefined ? 'users needs an action' : `unknown action "${action}"`
    throw new UsageError(`${problem}; use users ${ACTIONS.join(', ')}`)
  }
  if (username === undefined && action !== 'list') {
    throw new UsageError(`users ${action} needs a username; example: jwtgate users ${action} alice`)
  }
  const unexpected = action === 'list' ? username : extra[0]
  if (unexpected !== undefined) throw new UsageError(`unexpected argument "${unexpected}"`)
  if (action !== 'add' && Object.keys(values).length > 0) {
    throw new UsageError('--email, --name and --groups go with "users add" only')
  }
  return { action: action as Action, username: username ?? '', options: values }
}

function listUsers(file: string): void {
  const users = readUsers(file)
  if (users.length === 0) {
    console.log(`no users in ${file}; "jwtgate users add NAME" creates one`)
    return
  }
  for (const user of users) {
    const groups = user.groups.join(',') || '-'
    const status = user.disabled ? 'disabled' : 'enabled'
    console.log([user.username, user.email ?? '-', user.name ?? '-', groups, status].join('\t'))
  }
}

async function addUser(file: string, username: string, options: AddOptions): Promise<void> {
  if (!isValidUsername(username)) {
    throw new UsageError(`username ${JSON.stringify(username)} ${USERNAME_RULE}`)
  }
  const groups = [...new Set(options.groups?.split(',').map((g) => g.trim()) ?? [])]
  const draft: User = {
    username,
    passwordHash: 'pending',
    // An empty flag (`--email ""`) means "none", as an empty environment variable does.
    email: options.email || undefined,
    name: options.name || undefined,
    groups: groups.filter((g) => g !== ''),
    disabled: false,
  }
  const problem = findUserProblem(draft)
  if (problem) throw new UsageError(`invalid user: ${problem}`)

  // Checked before asking for a password, and again after hashing in case someone was faster.
  refuseExisting(readUsers(file), username)
  const passwordHash = await hashPassword(await readNewPassword())
  const users = readUsers(file)
  refuseExisting(users, username)
  writeUsers(file, [...users, { ...draft, passwordHash }])
  console.log(`added user ${username} to ${file}`)
}

async function changePassword(file: string, username: string): Promise<void> {
  findIndex(readUsers(file), username, file)
  const passwordHash = await hashPassword(await readNewPassword())
  const users = readUsers(file)
  const index = findIndex(users, username, file)
  users[index] = { ...users[index]!, passwordHash }
  writeUsers(file, users)
  console.log(`changed the password of ${users[index]!.username}`)
}

function removeUser(file: string, username: string): void {
  const users = readUsers(file)
  const [removed] = users.splice(findIndex(users, username, file), 1)
  writeUsers(file, users)
  console.log(`removed user ${removed!.username}; ${UNTIL_EXP}`)
}

function setDisabled(file: string, username: string, disabled: boolean): void {
  const users = readUsers(file)
  const index = findIndex(users, username, file)
  users[index] = { ...users[index]!, disabled }
  writeUsers(file, users)
  const { username: stored } = users[index]!
  console.log(disabled ? `disabled user ${stored}; ${UNTIL_EXP}` : `enabled user ${stored}`)
}

function refuseExisting(users: User[], username: string): void {
  const existing = users.find((u) => u.username.toLowerCase() === username.toLowerCase())
  if (existing) {
    throw new UsageError(
      `user ${existing.username} already exists; "jwtgate users passwd ${existing.username}" ` +
        'sets a new password',
    )
  }
}

function findIndex(users: User[], username: string, file: string): number {
  const index = users.findIndex((u) => u.username.toLowerCase() === username.toLowerCase())
  if (index < 0) throw new UsageError(`no user ${JSON.stringify(username)} in ${file}`)
  return index
}
