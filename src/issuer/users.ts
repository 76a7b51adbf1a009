import * as v from 'valibot'
import { Document, parse as parseYaml } from 'yaml'

import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { stat } from 'node:fs/promises'
import { dirname } from 'node:path'

import type { BigIntStats } from 'node:fs'
import type { Logger } from '../obs/logger.js'

/** One account of the gate's own issuer, as stored in the users file. */
export interface User {
  /** 1–64 characters of `A-Z a-z 0-9 . _ @ -`; kept as typed, looked up ignoring case. */
  username: string
  /** Output of `hashPassword`; never logged or printed. */
  passwordHash: string
  email?: string
  name?: string
  /** Group names: no commas (they join `X-WEBAUTH-GROUPS`) and no control characters. */
  groups: string[]
  /** A disabled user keeps its entry but cannot sign in. */
  disabled: boolean
}

/** File name of the users file inside the data dir. */
export const USERS_FILE = 'users.yaml'

/** What a valid username looks like, for messages. */
export const USERNAME_RULE = 'must be 1 to 64 characters from A-Z a-z 0-9 . _ @ -'

const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/

/** Whether `name` may be a username ({@link USERNAME_RULE}). */
export function isValidUsername(name: string): boolean {
  return USERNAME.test(name)
}

// The same set the identity headers refuse (SPEC "Header values"): C0, DEL, C1, U+2028, U+2029.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

const FIELDS = 'username, passwordHash, email, name, groups, disabled'

function textField(max: number) {
  const what = `must be text of at most ${max} characters without control characters`
  return v.pipe(
    v.string(what),
    v.maxLength(max, what),
    v.check((s) => !CONTROL.test(s), what),
  )
}

const groupSchema = v.pipe(
  v.string('must be a group name'),
  v.check(
    (g) => g !== '' && !g.includes(',') && !CONTROL.test(g),
    'must be a non-empty group name without commas or control characters',
  ),
)

const userSchema = v.strictObject(
  {
    username: v.pipe(v.string(USERNAME_RULE), v.regex(USERNAME, USERNAME_RULE)),
    passwordHash: v.pipe(v.string('must be a password hash'), v.nonEmpty('must not be empty')),
    email: v.optional(textField(254)),
    name: v.optional(textField(200)),
    groups: v.optional(v.array(groupSchema, 'must be a list of group names'), []),
    disabled: v.optional(v.boolean('must be true or false'), false),
  },
  // A misspelt `disabled` must not leave an account silently enabled, so unknown keys fail.
  (issue) =>
    issue.expected === 'never' ? `is not a user field (${FIELDS})` : `must be a user (${FIELDS})`,
)

const fileSchema = v.strictObject(
  { users: v.array(userSchema, 'must be a list of users') },
  'must be a mapping with one key, users',
)

/** Where a valibot issue points, as `users[2].groups[0]`. */
function issuePath(issue: v.BaseIssue<unknown>): string {
  return (issue.path ?? [])
    .map((item) => (typeof item.key === 'number' ? `[${item.key}]` : `.${String(item.key)}`))
    .join('')
    .replace(/^\./, '')
}

/** Checks one user before it is stored; the first problem with its field, or undefined. */
export function findUserProblem(user: User): string | undefined {
  const result = v.safeParse(userSchema, user)
  if (result.success) return undefined
  const issue = result.issues[0]
  return `${issuePath(issue)}: ${issue.message}`
}

/** Validates a parsed users document; messages name paths and rules, never values. */
function checkDocument(file: string, value: unknown): User[] {
  if (value === null || value === undefined) {
    // An empty file is more likely a half-done edit than an intent to delete every account.
    throw new Error(`${file}: is empty; expected "users:" with a list of users`)
  }
  const result = v.safeParse(fileSchema, value, { abortEarly: false })
  if (!result.success) {
    const [first, ...rest] = result.issues
    const more =
      rest.length > 0 ? ` (and ${rest.length} more problem${rest.length > 1 ? 's' : ''})` : ''
    throw new Error(`${file}: ${issuePath(first) || 'top level'}: ${first.message}${more}`)
  }

  const seen = new Map<string, number>()
  result.output.users.forEach((user, index) => {
    const key = user.username.toLowerCase()
    const earlier = seen.get(key)
    if (earlier !== undefined) {
      throw new Error(
        `${file}: users[${index}].username: repeats users[${earlier}] (usernames ignore case)`,
      )
    }
    seen.set(key, index)
  })
  return result.output.users
}

/**
 * Reads and validates a users file. A missing file holds no users. Throws an Error naming the
 * file and the first problem (path and rule, never a value) when the file is broken.
 */
export function readUsers(file: string): User[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }

  let value: unknown
  try {
    value = parseYaml(text)
  } catch (err) {
    // Only the first line: the rest of a YAML error quotes the source, which holds hashes.
    const reason = (err as Error).message.split('\n')[0]
    throw new Error(`${file}: is not valid YAML (${reason})`)
  }
  return checkDocument(file, value)
}

/**
 * Validates `users` and replaces the users file atomically with mode 0600, creating the data dir
 * (0700) when needed. Throws like {@link readUsers} when a user is invalid, before writing.
 *
 * Limitation: two commands writing at the same moment each rewrite the whole file, so the
 * later one drops the earlier one's change. Matters only for concurrent `jwtgate users` runs;
 * run them one after another.
 */
export function writeUsers(file: string, users: readonly User[]): void {
  const valid = checkDocument(file, { users: users.map(toStored) })
  const doc = new Document({ users: valid.map(toStored) })
  doc.commentBefore = ' Managed by "jwtgate users"; a running gate reloads this file on change.'

  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    writeFileSync(temporary, doc.toString(), { mode: 0o600 })
    chmodSync(temporary, 0o600)
    // rename(2) swaps the file in one step, so a polling gate never reads half of it.
    renameSync(temporary, file)
  } finally {
    rmSync(temporary, { force: true })
  }
}

/** The stored shape: fields in a fixed order, absent optional fields left out. */
function toStored(user: User): Record<string, unknown> {
  const stored: Record<string, unknown> = {
    username: user.username,
    passwordHash: user.passwordHash,
  }
  if (user.email !== undefined) stored.email = user.email
  if (user.name !== undefined) stored.name = user.name
  stored.groups = user.groups
  stored.disabled = user.disabled
  return stored
}

export interface UserStoreOptions {
  /** How often the file is polled for changes, in ms; default 500. */
  pollMs?: number
}

/**
 * The users of a running gate, kept in memory and following the users file, so `jwtgate users
 * add` takes effect without a restart (within one poll, 500 ms by default). A reload that fails
 * keeps the last good set and logs at warn; a deleted file means no users.
 */
export class UserStore {
  private users = new Map<string, User>()
  private timer: NodeJS.Timeout | undefined
  private polling = false

  private constructor(
    readonly file: string,
    private readonly logger: Logger,
    private seen: string,
  ) {}

  /**
   * Loads `file` (missing: no users) and starts polling it. Throws like {@link readUsers} when
   * the file is broken at start, so a gate does not come up with a wrong set of accounts.
   */
  static open(file: string, logger: Logger, options: UserStoreOptions = {}): UserStore {
    // Stat before reading: a change in between then shows as a new signature at the next poll.
    const store = new UserStore(
      file,
      logger,
      signatureOf(() => statSync(file, { bigint: true })),
    )
    store.install(readUsers(file))
    if (isExposed(file)) logger.warn({ file }, 'users file is readable by other users; chmod 600')

    // Polling rather than fs.watch: it survives the rename of an atomic write and works on
    // volumes without inotify. Unlike fs.watchFile it compares with the stat of what was
    // loaded, not with its own first poll, so a write landing before that poll is not missed.
    store.timer = setInterval(() => void store.poll(), options.pollMs ?? 500)
    store.timer.unref()
    return store
  }

  /** The user whose name matches `username` ignoring case, disabled or not. */
  get(username: string): User | undefined {
    return this.users.get(username.toLowerCase())
  }

  /** Number of users, disabled ones included. */
  get size(): number {
    return this.users.size
  }

  /** Stops following the file. */
  close(): void {
    clearInterval(this.timer)
  }

  private async poll(): Promise<void> {
    // A stat on a slow volume can outlast the interval; one at a time is enough.
    if (this.polling) return
    this.polling = true
    try {
      const current = await signatureOfAsync(this.file)
      if (current === this.seen) return
      this.seen = current
      this.reload()
    } finally {
      this.polling = false
    }
  }

  private reload(): void {
    try {
      this.install(readUsers(this.file))
      this.logger.info({ file: this.file, users: this.users.size }, 'users reloaded')
    } catch (err) {
      const reason = (err as Error).message
      this.logger.warn({ file: this.file, reason }, 'users file unreadable; kept the last good set')
    }
  }

  private install(users: User[]): void {
    this.users = new Map(users.map((user) => [user.username.toLowerCase(), user]))
  }
}

/** What identifies one version of the file; an atomic write always changes the inode. */
function describeStats(stats: BigIntStats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`
}

function describeError(err: unknown): string {
  return `error:${(err as NodeJS.ErrnoException).code ?? 'unknown'}`
}

function signatureOf(statFile: () => BigIntStats): string {
  try {
    return describeStats(statFile())
  } catch (err) {
    return describeError(err)
  }
}

async function signatureOfAsync(file: string): Promise<string> {
  try {
    return describeStats(await stat(file, { bigint: true }))
  } catch (err) {
    return describeError(err)
  }
}

function isExposed(file: string): boolean {
  try {
    return (statSync(file).mode & 0o077) !== 0
  } catch {
    return false
  }
}
