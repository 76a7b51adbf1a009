import { statSync } from 'node:fs'

import { GateError } from '../errors.js'
import { KeySet } from './key-set.js'
import { importSigningKey, isExposed, openKeyring, publicJWK, readKeyring } from './keyring.js'
import { keyStates, nextChange } from './rotation.js'
import type { Logger } from '../obs/logger.js'
import type { KeySource, KeySourceStatus, ResolvedKey } from './key-set.js'
import type { KeyringFile, StoredKey } from './keyring.js'
import type { KeyStatus, RotationSchedule } from './rotation.js'
import type { CryptoKey, JWK } from 'jose'

export interface OwnKeysOptions {
  issuer: string
  dataDir: string
  schedule: RotationSchedule
  logger: Logger
  now?: () => number
}

/** Longest a timer waits before the states are recomputed anyway (clock jumps, long sleeps). */
const MAX_WAIT_MS = 3_600_000

/**
 * The gate's own signing keys: the keyring in the data dir, the rotation states derived from it,
 * the published key set verifiers use, and the active signer. It follows the keyring file, so
 * `jwtgate keys rotate` takes effect in a running gate, and it moves keys between states on
 * schedule by itself.
 */
export class OwnKeys implements KeySource {
  readonly issuer: string
  private keyring!: KeyringFile
  private states: KeyStatus[] = []
  private set!: KeySet
  private loadedAt = 0
  private timer: NodeJS.Timeout | undefined
  private poller: NodeJS.Timeout | undefined
  private seen = ''
  private readonly signers = new Map<string, Promise<CryptoKey>>()
  private readonly listeners: ((ids: string[]) => void)[] = []
  private readonly now: () => number

  private constructor(
    private readonly options: OwnKeysOptions,
    private readonly file: string,
  ) {
    this.issuer = options.issuer
    this.now = options.now ?? Date.now
  }

  /** Opens the keyring, creating it with one active key on first start. */
  static async open(options: OwnKeysOptions): Promise<OwnKeys> {
    const log = options.logger
    const { file, keyring, created } = await openKeyring(options.dataDir)
    if (created) log.info({ file }, 'generated a new RS256 signing key')
    else if (isExposed(file))
      log.warn({ file }, 'key file is readable by other users; chmod 600 it')

    const own = new OwnKeys(options, file)
    own.seen = fileSignature(file)
    await own.install(keyring)

    // Polls the file's identity against what was loaded rather than fs.watchFile, whose first
    // look could already include a rotation written right after start and so never fire.
    own.poller = setInterval(() => {
      const current = fileSignature(file)
      if (current !== own.seen) {
        own.seen = current
        void own.reloadFile()
      }
    }, 500)
    own.poller.unref()
    return own
  }

  /** The active key and its imported private half, for minting. */
  async signer(): Promise<{ key: StoredKey; privateKey: CryptoKey }> {
    const key = this.stateOf('active')[0]!.key
    let privateKey = this.signers.get(key.kid)
    if (!privateKey) {
      privateKey = importSigningKey(key)
      this.signers.set(key.kid, privateKey)
    }
    return { key, privateKey: await privateKey }
  }

  /** Public JWKs of the next, active and retiring keys. */
  publishedJWKs(): JWK[] {
    return this.states.filter((s) => s.state !== 'retired').map((s) => publicJWK(s.key))
  }

  /** Every key with its state, for `jwtgate keys list` and the audit log. */
  keyStatuses(): readonly KeyStatus[] {
    return this.states
  }

  async getKey(kid: string | undefined, alg: string): Promise<ResolvedKey> {
    const found = this.set.find(kid, alg)
    if (!found) throw new GateError('ERR_KEY_UNKNOWN', "kid is not one of the gate's own keys")
    return found
  }

  usable(): boolean {
    return this.set.size > 0
  }

  hasKid(id: string): boolean {
    return this.set.has(id)
  }

  onRemoved(listener: (ids: string[]) => void): void {
    this.listeners.push(listener)
  }

  status(now: number): KeySourceStatus {
    return {
      issuer: this.issuer,
      ready: this.set.size > 0,
      keys: this.set.size,
      ageSeconds: Math.round((now - this.loadedAt) / 1000),
    }
  }

  close(): void {
    clearTimeout(this.timer)
    clearInterval(this.poller)
  }

  private stateOf(state: KeyStatus['state']): KeyStatus[] {
    return this.states.filter((s) => s.state === state)
  }

  /** Rereads the keyring and recomputes the states now; the gate also does this by itself. */
  async refresh(): Promise<void> {
    await this.reloadFile()
  }

  private async reloadFile(): Promise<void> {
    try {
      const keyring = readKeyring(this.file)
      if (keyring) await this.install(keyring)
    } catch (err) {
      this.options.logger.warn({ reason: (err as Error).message }, 'keyring unreadable; kept')
    }
  }

  /** Recomputes the states and the published set; a key that left it stops verifying. */
  private async install(keyring: KeyringFile): Promise<void> {
    const now = this.now()
    const before = new Map(this.states.map((s) => [s.key.kid, s.state]))
    const states = keyStates(keyring, now, this.options.schedule)
    const published = states.filter((s) => s.state !== 'retired').map((s) => publicJWK(s.key))
    const set = await KeySet.fromJWKS([{ keys: published }], ['RS256'])

    const removed = this.set ? [...this.set.ids()].filter((id) => !set.has(id)) : []
    ;[this.keyring, this.states, this.set, this.loadedAt] = [keyring, states, set, now]
    for (const { key, state } of states) {
      if (before.size > 0 && before.get(key.kid) !== state) {
        this.options.logger.info({ kid: key.kid, state }, 'signing key changed state')
      }
    }
    if (removed.length > 0) for (const listener of this.listeners) listener(removed)
    this.scheduleNext(now)
  }

  private scheduleNext(now: number): void {
    clearTimeout(this.timer)
    const change = nextChange(this.keyring, now, this.options.schedule)
    const wait = Math.min(Math.max((change ?? Infinity) - now, 1_000), MAX_WAIT_MS)
    this.timer = setTimeout(() => void this.install(this.keyring), wait)
    this.timer.unref()
  }
}

function fileSignature(file: string): string {
  try {
    const { ino, size, mtimeMs } = statSync(file)
    return `${ino}:${size}:${mtimeMs}`
  } catch {
    return 'missing'
  }
}
