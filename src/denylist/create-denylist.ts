import { join } from 'node:path'

import { MemoryDenylist } from './memory.js'
import { createRedisClient } from './redis-client.js'
import { RedisDenylist } from './redis-store.js'
import type { Config } from '../config/index.js'
import type { Logger } from '../obs/logger.js'
import type { Denylist } from './denylist.js'

/** File name of the in-memory store's journal inside the data dir. */
export const JOURNAL_FILE = 'denylist.jsonl'

/**
 * The configured denylist, not started: Redis when JWTGATE_REDIS_URL is set, else memory
 * journaled to the data dir.
 */
export async function createDenylist(config: Config, logger: Logger): Promise<Denylist> {
  const times = { clockTolerance: config.clockTolerance, maxTokenLifetime: config.maxTokenLifetime }
  const log = logger.child({ module: 'denylist' })
  if (config.redisUrl) {
    return new RedisDenylist({
      ...times,
      client: await createRedisClient(config.redisUrl),
      maxStale: config.denylistMaxStale,
      logger: log,
    })
  }
  return new MemoryDenylist({ ...times, journal: join(config.dataDir, JOURNAL_FILE), logger: log })
}
