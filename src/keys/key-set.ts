import { calculateJwkThumbprint, importJWK } from 'jose'

import type { CryptoKey, JWK } from 'jose'

/** A verification key as jose accepts it. */
export type VerifyKey = CryptoKey | Uint8Array

/** A key found for a token, with the id cached verifications remember it by. */
export interface ResolvedKey {
  id: string
  key: Promise<VerifyKey>
}

/** What the verifier asks of an issuer's keys, whatever their origin. */
export interface KeySource {
  readonly issuer: string
  /** Resolves the key for a token's `kid` and `alg`; throws GateError when there is none. */
  getKey(kid: string | undefined, alg: string): Promise<ResolvedKey>
  /** False once the keys are too old to trust (or were never loaded). Cheap: read per request. */
  usable(now: number): boolean
  /** Whether a key id is still in the current set; cached verifications check it. */
  hasKid(id: string): boolean
  /** Called with the ids of keys that left the set, so cached results can be dropped. */
  onRemoved(listener: (ids: string[]) => void): void
  status(now: number): KeySourceStatus
  close(): void
}

export interface KeySourceStatus {
  issuer: string
  ready: boolean
  keys: number
  /** Seconds since the keys were last loaded, or -1 when never. */
  ageSeconds: number
  reason?: string
}

interface Entry {
  /** `kid`, or the JWK thumbprint for a key published without one. */
  id: string
  jwk: JWK
  imported: Map<string, Promise<VerifyKey>>
}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
}

const CURVE_OF_ALG: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }

/** Whether a JWK's type and curve can verify signatures made with `alg`. */
function fitsAlgorithm(jwk: JWK, alg: string): boolean {
  if (alg.startsWith('RS') || alg.startsWith('PS')) return jwk.kty === 'RSA'
  if (alg.startsWith('ES')) return jwk.kty === 'EC' && jwk.crv === CURVE_OF_ALG[alg]
  if (alg === 'EdDSA') return jwk.kty === 'OKP' && (jwk.crv === 'Ed25519' || jwk.crv === 'Ed448')
  return false
}

/**
 * Keeps only a JWK's public members. A JWKS that leaks private members (`d`, `p`, ...) is still
 * usable, but the secret parts are dropped here and never stored or re-published.
 */
function publicPart(raw: Record<string, unknown>): JWK | undefined {
  const kty = typeof raw.kty === 'string' ? raw.kty : ''
  const members = PUBLIC_MEMBERS[kty]
  if (!members) return undefined

  const jwk: Record<string, unknown> = {}
  for (const name of members) {
    if (typeof raw[name] !== 'string' || raw[name] === '') return undefined
    jwk[name] = raw[name]
  }
  for (const name of ['kid', 'alg', 'use'] as const) {
    if (typeof raw[name] === 'string') jwk[name] = raw[name]
  }
  if (Array.isArray(raw.key_ops)) jwk.key_ops = raw.key_ops.filter((op) => typeof op === 'string')
  return jwk as JWK
}

function usableForVerify(jwk: JWK, algorithms: readonly string[]): string | undefined {
  if (jwk.use !== undefined && jwk.use !== 'sig') return undefined
  if (jwk.key_ops !== undefined && !jwk.key_ops.includes('verify')) return undefined
  if (jwk.alg !== undefined) {
    return algorithms.includes(jwk.alg) && fitsAlgorithm(jwk, jwk.alg) ? jwk.alg : undefined
  }
  return algorithms.find((alg) => fitsAlgorithm(jwk, alg))
}

/**
 * An immutable set of public verification keys built from JWKS documents. Keys are imported
 * once per algorithm and the import is shared, so a verification after the first pays nothing
 * for key handling.
 */
export class KeySet {
  private readonly byId = new Map<string, Entry>()

  private constructor(private readonly algorithms: readonly string[]) {}

  /**
   * Builds a set from JWKS documents, importing each usable key once to prove it parses.
   * Keys that are private-only, of an unsupported type, or marked for another use are skipped.
   */
  static async fromJWKS(documents: unknown[], algorithms: readonly string[]): Promise<KeySet> {
    const set = new KeySet(algorithms)
    for (const document of documents) {
      const keys = (document as { keys?: unknown } | null)?.keys
      if (!Array.isArray(keys)) continue
      for (const raw of keys) {
        if (raw && typeof raw === 'object') await set.add(raw as Record<string, unknown>)
      }
    }
    return set
  }

  get size(): number {
    return this.byId.size
  }

  ids(): IterableIterator<string> {
    return this.byId.keys()
  }

  has(id: string): boolean {
    return this.byId.has(id)
  }

  /** The public JWKs, for publishing the gate's own keys. */
  publicJWKs(): JWK[] {
    return [...this.byId.values()].map((entry) => ({ ...entry.jwk }))
  }

  /**
   * The key for `kid` and `alg`, or undefined. Without a `kid`, a single key that fits `alg` is
   * used; with several candidates the token is refused, because guessing would let one key's
   * holder pass for another.
   */
  find(kid: string | undefined, alg: string): ResolvedKey | undefined {
    const entry = kid === undefined ? this.onlyFit(alg) : this.byId.get(kid)
    if (!entry || !fitsAlgorithm(entry.jwk, alg)) return undefined
    if (entry.jwk.alg !== undefined && entry.jwk.alg !== alg) return undefined

    let key = entry.imported.get(alg)
    if (!key) {
      key = importJWK(entry.jwk, alg) as Promise<VerifyKey>
      entry.imported.set(alg, key)
    }
    return { id: entry.id, key }
  }

  private onlyFit(alg: string): Entry | undefined {
    let found: Entry | undefined
    for (const entry of this.byId.values()) {
      if (!fitsAlgorithm(entry.jwk, alg)) continue
      if (found) return undefined
      found = entry
    }
    return found
  }

  private async add(raw: Record<string, unknown>): Promise<void> {
    const jwk = publicPart(raw)
    if (!jwk) return
    const alg = usableForVerify(jwk, this.algorithms)
    if (!alg) return

    const id = jwk.kid ?? (await calculateJwkThumbprint(jwk))
    if (this.byId.has(id)) return
    try {
      const imported = new Map([[alg, Promise.resolve((await importJWK(jwk, alg)) as VerifyKey)]])
      this.byId.set(id, { id, jwk, imported })
    } catch {
      // Key material that jose cannot import (bad modulus, point off the curve) is unusable.
    }
  }
}
