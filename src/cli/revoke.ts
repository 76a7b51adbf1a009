import { parseArgs } from 'node:util'
import { userInfo } from 'node:os'

import { loadConfig } from '../config/index.js'
import { createDenylist } from '../denylist/index.js'
import { createLogger } from '../obs/logger.js'
import { UsageError } from './usage-error.js'
import type { Config } from '../config/index.js'

/**
 * `jwtgate revoke --jti ID [--exp TIME]` or `--sub SUBJECT [--before TIME]`: writes to the
 * store the gates use (Redis, or the data dir's journal a running gate follows).
 */
export async function runRevoke(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { config } = loadConfig(env)
  const { values } = parseArgs({
    args,
    options: {
      jti: { type: 'string' },
      sub: { type: 'string' },
      exp: { type: 'string' },
      before: { type: 'string' },
    },
  })
  if ((values.jti === undefined) === (values.sub === undefined)) {
    throw new UsageError('revoke needs exactly one of --jti ID or --sub SUBJECT')
  }

  const denylist = await createDenylist(config, createLogger(config.logLevel, stderr()))
  const by = { actor: `cli:${userInfo().username}` }
  const now = Math.floor(Date.now() / 1000)
  try {
    if (values.jti !== undefined) {
      // Without the token's exp, keep the entry as long as any token may live.
      const exp = values.exp ? parseTime(values.exp, '--exp') : now + config.maxTokenLifetime
      await denylist.revokeToken(values.jti, exp, by)
      console.log(`revoked jti ${values.jti} until ${new Date(exp * 1000).toISOString()}`)
    } else {
      const before = values.before ? parseTime(values.before, '--before') : now
      await denylist.revokeSubject(values.sub!, before, by)
      console.log(`revoked tokens of ${values.sub} issued at or before ${iso(before)}`)
    }
  } finally {
    await denylist.close()
  }
}

/** `jwtgate denylist`: the live entries, one per line. */
export async function runDenylist(env: NodeJS.ProcessEnv): Promise<void> {
  const { config } = loadConfig(env)
  const denylist = await createDenylist(config, createLogger(config.logLevel, stderr()))
  try {
    await denylist.start()
    if (!denylist.fresh(Date.now())) throw new Error(unreachable(config))
    for (const entry of denylist.list(Date.now())) {
      const what =
        entry.kind === 'jti' ? `jti\t${entry.id}` : `sub\t${entry.id}\tbefore ${iso(entry.before)}`
      console.log(`${what}\tuntil ${iso(entry.until)}`)
    }
  } finally {
    await denylist.close()
  }
}

function unreachable(config: Config): string {
  return config.redisUrl ? 'cannot read the denylist from Redis' : 'cannot read the denylist'
}

function parseTime(text: string, flag: string): number {
  if (text === 'now') return Math.floor(Date.now() / 1000)
  if (/^\d+$/.test(text)) return Number(text)
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) {
    throw new UsageError(`${flag} "${text}" is not a time; example: ${flag} 2026-12-03T18:00:00Z`)
  }
  return Math.floor(ms / 1000)
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString()
}

function stderr() {
  return { write: (line: string) => process.stderr.write(line) }
}
