export { KeySet } from './key-set.js'
export type { KeySource, KeySourceStatus, ResolvedKey, VerifyKey } from './key-set.js'
export { OwnKeys } from './own-keys.js'
export type { OwnKeysOptions } from './own-keys.js'
export { keyStates, nextChange, scheduleFor, signingKey } from './rotation.js'
export type { KeyState, KeyStatus, RotationSchedule } from './rotation.js'
export { RemoteJWKS } from './remote-jwks.js'
export type { FetchOutcome, RemoteJWKSOptions } from './remote-jwks.js'
export {
  KEYRING_FILE,
  generateSigningKey,
  importSigningKey,
  isExposed,
  openKeyring,
  publicJWK,
  readKeyring,
  writeKeyring,
} from './keyring.js'
export type { KeyringFile, StoredKey } from './keyring.js'
