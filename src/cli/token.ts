import { parseArgs } from 'node:util'

import { loadConfig } from '../config/index.js'
import { mintToken } from '../issuer/index.js'
import { activeKey, openKeyring } from '../keys/index.js'
import { UsageError } from './usage-error.js'

/** `jwtgate token --sub ...`: prints a token signed by the gate's own active key. */
export async function runToken(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { config } = loadConfig(env)
  const { values } = parseArgs({
    args,
    options: {
      sub: { type: 'string' },
      username: { type: 'string' },
      email: { type: 'string' },
      name: { type: 'string' },
      groups: { type: 'string' },
      ttl: { type: 'string', default: '15m' },
      jti: { type: 'string' },
    },
  })
  if (!values.sub) throw new UsageError('token needs --sub SUBJECT')
  if (config.selfIssuer === undefined) {
    throw new UsageError(
      'the gate\'s own issuer is off (a JWKS URL is set); enable "self" in the config file',
    )
  }

  const { keyring } = await openKeyring(config.dataDir)
  const token = await mintToken(activeKey(keyring), {
    issuer: config.selfIssuer,
    audience: config.audience[0] ?? 'grafana',
    subject: values.sub,
    ttlSeconds: parseDuration(values.ttl),
    claims: {
      preferred_username: values.username,
      email: values.email,
      name: values.name,
      groups: values.groups
        ?.split(',')
        .map((g) => g.trim())
        .filter(Boolean),
    },
    jti: values.jti,
  })
  console.log(token)
}

function parseDuration(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim())
  if (!match) throw new UsageError(`--ttl "${text}" is not a duration; example: --ttl 15m`)
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd']
  return Number(match[1]) * unit
}
