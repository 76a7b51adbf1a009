export { KeySet } from './key-set.js'
export type { KeySource, KeySourceStatus, ResolvedKey, VerifyKey } from './key-set.js'
export { LocalKeys } from './local-keys.js'
export { RemoteJWKS } from './remote-jwks.js'
export type { FetchOutcome, RemoteJWKSOptions } from './remote-jwks.js'
export {
  activeKey,
  generateSigningKey,
  importSigningKey,
  isExposed,
  openKeyring,
  publishedJWKs,
  readKeyring,
  writeKeyring,
} from './keyring.js'
export type { KeyringFile, KeyState, StoredKey } from './keyring.js'
