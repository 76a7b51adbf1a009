import type { Cluster, ClusterNode, Redis, RedisOptions } from 'ioredis'

export type RedisClient = Redis | Cluster

/**
 * Connection settings shared by every client: commands fail fast while Redis is away (the
 * denylist keeps serving from its copy and tracks staleness itself), and reconnects back off
 * to at most two seconds.
 */
const COMMON: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
}

function hosts(list: string, defaultPort: number): { host: string; port: number }[] {
  return list.split(',').map((item) => {
    const at = item.lastIndexOf(':')
    const bracketed = item.startsWith('[')
    const host = at > 0 && (!bracketed || item.endsWith(']', at)) ? item.slice(0, at) : item
    const port = host === item ? defaultPort : Number(item.slice(at + 1))
    return { host: host.replace(/^\[|\]$/g, ''), port }
  })
}

function isCluster(client: RedisClient): client is Cluster {
  return typeof (client as Partial<Cluster>).nodes === 'function'
}

/**
 * Creates an ioredis client from JWTGATE_REDIS_URL. ioredis is loaded on first use, so a gate
 * without Redis does not pay for loading it. Besides `redis://` and `rediss://` it reads
 * `redis+sentinel://[user:pass@]host:port,host:port/masterName[/db]` and
 * `redis+cluster://[user:pass@]host:port,host:port`; the client is not connected yet.
 */
export async function createRedisClient(url: string): Promise<RedisClient> {
  const { Cluster, Redis } = await import('ioredis')
  const match =
    /^(redis\+sentinel|redis\+cluster|rediss?):\/\/(?:([^@/]*)@)?([^/]+)(?:\/(.*))?$/.exec(url)
  if (!match) throw new TypeError('unsupported Redis URL')
  const [, scheme, credentials, hostList = '', path = ''] = match
  const [username, password] = credentials
    ? credentials.split(':').map((part) => decodeURIComponent(part))
    : []
  const auth = { username: username || undefined, password: password || undefined }

  if (scheme === 'redis+cluster') {
    const nodes: ClusterNode[] = hosts(hostList, 6379)
    return new Cluster(nodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
      redisOptions: { ...COMMON, ...auth },
    })
  }
  if (scheme === 'redis+sentinel') {
    const [name = 'mymaster', db = '0'] = path.split('/')
    return new Redis({
      ...COMMON,
      ...auth,
      sentinels: hosts(hostList, 26379),
      name,
      db: Number(db),
    })
  }
  return new Redis(url, COMMON)
}

/**
 * Resolves once the client can take commands, connecting it on first use. Commands fail fast
 * while Redis is away (no offline queue), so callers wait here only for the first connection.
 */
export async function ensureConnected(client: RedisClient, timeoutMs = 2_000): Promise<void> {
  if (client.status === 'ready') return
  if (client.status === 'wait') client.connect().catch(() => undefined)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady)
      reject(new Error('Redis is not reachable'))
    }, timeoutMs)
    const onReady = () => {
      clearTimeout(timer)
      resolve()
    }
    client.once('ready', onReady)
  })
}

/** A second connection with the same settings, for blocking reads. */
export function duplicateClient(client: RedisClient): RedisClient {
  return isCluster(client) ? client.duplicate() : client.duplicate()
}

/** Every master that holds data: the one server, or each cluster master. */
export function dataNodes(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client]
}
