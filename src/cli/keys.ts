import { parseArgs } from 'node:util'
import { join } from 'node:path'

import { loadConfig } from '../config/index.js'
import {
  KEYRING_FILE,
  generateSigningKey,
  keyStates,
  openKeyring,
  readKeyring,
  scheduleFor,
  writeKeyring,
} from '../keys/index.js'
import { createLogger } from '../obs/logger.js'
import { parseDuration } from './duration.js'
import { UsageError } from './usage-error.js'
import type { Config } from '../config/index.js'

/**
 * Default lead time of a new key: published this long before it signs. Grafana caches a JWKS
 * for an hour by default; five minutes more covers a fetch that starts just before expiry.
 */
const DEFAULT_LEAD = '65m'

/** `jwtgate keys list|generate|rotate`: the gate's own signing keys in the data dir. */
export async function runKeys(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { config } = loadConfig(env)
  const [action = 'list', ...rest] = args
  switch (action) {
    case 'generate': {
      const { file, keyring, created } = await openKeyring(config.dataDir)
      const kid = keyring.keys[0]?.kid
      console.log(created ? `created ${file} with key ${kid}` : `${file} already exists`)
      return
    }
    case 'list':
      return listKeys(config)
    case 'rotate':
      return rotateKeys(config, rest)
    default:
      throw new UsageError(`unknown keys action "${action}"; use list, generate or rotate`)
  }
}

function listKeys(config: Config): void {
  const keyring = readKeyring(join(config.dataDir, KEYRING_FILE))
  if (!keyring) {
    console.log(`no keyring in ${config.dataDir}; "jwtgate keys generate" creates one`)
    return
  }
  for (const { key, state, until } of keyStates(keyring, Date.now(), scheduleFor(config))) {
    const next = until === undefined ? '' : `\tuntil ${new Date(until).toISOString()}`
    console.log(`${key.kid}\t${key.alg}\t${state}\tactivates ${key.activatesAt}${next}`)
  }
}

/**
 * Adds the next key, published now and signing after the lead time, and drops keys that have
 * retired. A second rotation while one is pending is refused: it would cut the first key's
 * publication short.
 */
async function rotateKeys(config: Config, args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { lead: { type: 'string', default: DEFAULT_LEAD } },
  })
  const lead = parseDuration(values.lead, '--lead')
  const { file, keyring } = await openKeyring(config.dataDir)
  const now = Date.now()
  const schedule = scheduleFor(config)
  const states = keyStates(keyring, now, schedule)
  const pending = states.find((s) => s.state === 'next')
  if (pending) {
    throw new UsageError(
      `key ${pending.key.kid} is already waiting to sign from ${pending.key.activatesAt}`,
    )
  }

  const next = await generateSigningKey(new Date(now + lead * 1000), new Date(now))
  const kept = states.filter((s) => s.state !== 'retired').map((s) => s.key)
  writeKeyring(file, { version: 1, keys: [...kept, next] })

  const log = createLogger(config.logLevel, { write: (line: string) => process.stderr.write(line) })
  log.info(
    { kid: next.kid, activatesAt: next.activatesAt, retired: states.length - kept.length },
    'key rotation scheduled',
  )
  log.flush()
  console.log(`added ${next.kid}: published now, signs from ${next.activatesAt}`)
}
