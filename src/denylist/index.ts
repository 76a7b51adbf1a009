export type { Denylist, DenylistStatus, RevocationSubject } from './denylist.js'
export { MemoryDenylist } from './memory.js'
