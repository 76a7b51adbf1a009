export { createDenylist, JOURNAL_FILE } from './create-denylist.js'
export { subjectRevocation, tokenRevocation } from './denylist.js'
export type {
  Denylist,
  DenylistStatus,
  DenylistTimes,
  Revocation,
  RevocationActor,
  RevocationSubject,
} from './denylist.js'
export { MemoryDenylist } from './memory.js'
export { createRedisClient, ensureConnected } from './redis-client.js'
export type { RedisClient } from './redis-client.js'
export { RedisDenylist } from './redis-store.js'
