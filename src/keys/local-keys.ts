import { KeySet } from './key-set.js'
import { publishedJWKs } from './keyring.js'
import { GateError } from '../errors.js'
import type { KeySource, KeySourceStatus, ResolvedKey } from './key-set.js'
import type { KeyringFile } from './keyring.js'

/**
 * The gate's own issuer as a key source: the public halves of the keyring's published keys.
 * Always usable, since nothing remote can go stale.
 */
export class LocalKeys implements KeySource {
  private readonly listeners: ((ids: string[]) => void)[] = []
  private loadedAt = 0

  private constructor(
    readonly issuer: string,
    private set: KeySet,
  ) {}

  static async create(issuer: string, keyring: KeyringFile): Promise<LocalKeys> {
    const local = new LocalKeys(issuer, await KeySet.fromJWKS([], ['RS256']))
    await local.reload(keyring)
    return local
  }

  /** Replaces the key set after the keyring changed; removed keys stop verifying at once. */
  async reload(keyring: KeyringFile): Promise<void> {
    const next = await KeySet.fromJWKS([{ keys: publishedJWKs(keyring) }], ['RS256'])
    const removed = [...this.set.ids()].filter((id) => !next.has(id))
    this.set = next
    this.loadedAt = Date.now()
    if (removed.length > 0) for (const listener of this.listeners) listener(removed)
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

  close(): void {}
}
