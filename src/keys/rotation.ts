import type { KeyringFile, StoredKey } from './keyring.js'

/**
 * Where a key is in its life: `next` is published but does not sign yet, `active` signs,
 * `retiring` no longer signs but stays published until every token it signed has expired,
 * `retired` is neither published nor used.
 */
export type KeyState = 'next' | 'active' | 'retiring' | 'retired'

export interface RotationSchedule {
  /** Seconds a retired signer stays published: the longest lifetime of a token it signed. */
  retireAfter: number
}

/** The schedule that follows from the gate's limits: a signer outlives its longest token. */
export function scheduleFor(limits: { maxTokenLifetime: number; clockTolerance: number }) {
  return { retireAfter: limits.maxTokenLifetime + limits.clockTolerance }
}

export interface KeyStatus {
  key: StoredKey
  state: KeyState
  /** When the state ends (ms since the epoch), if it is scheduled to. */
  until: number | undefined
}

/**
 * The state of every key at `now`, derived from activation times alone, so every process that
 * reads the keyring agrees without coordinating. The active key is the latest whose activation
 * has come; a key superseded at time T retires at T + retireAfter.
 */
export function keyStates(keyring: KeyringFile, now: number, schedule: RotationSchedule) {
  const keys = [...keyring.keys].sort((a, b) => at(a) - at(b))
  let active = -1
  keys.forEach((key, i) => {
    if (at(key) <= now) active = i
  })

  // Before the first activation (a clock set back), the earliest key signs rather than none.
  if (active < 0) active = 0

  return keys.map((key, i): KeyStatus => {
    if (i > active) return { key, state: 'next', until: at(key) }
    const next = keys[i + 1]
    if (i === active) return { key, state: 'active', until: next ? at(next) : undefined }
    const retires = at(keys[i + 1]!) + schedule.retireAfter * 1000
    return retires > now
      ? { key, state: 'retiring', until: retires }
      : { key, state: 'retired', until: undefined }
  })
}

/** The key that signs at `now`. */
export function signingKey(keyring: KeyringFile, now: number, schedule: RotationSchedule) {
  return keyStates(keyring, now, schedule).find((status) => status.state === 'active')!.key
}

/** The earliest scheduled state change after `now`, in ms since the epoch. */
export function nextChange(keyring: KeyringFile, now: number, schedule: RotationSchedule) {
  const times = keyStates(keyring, now, schedule)
    .map((status) => status.until)
    .filter((until): until is number => until !== undefined && until > now)
  return times.length > 0 ? Math.min(...times) : undefined
}

function at(key: StoredKey): number {
  return Date.parse(key.activatesAt)
}
