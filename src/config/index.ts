export { ConfigError, loadConfig } from './load.js'
export type { Config, IssuerPolicy } from './load.js'
export { ALGORITHMS, ROLES } from './schema.js'
export type { ClaimPaths, Role } from './schema.js'
