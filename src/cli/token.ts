import { parseArgs } from 'node:util'

import { loadConfig } from '../config/index.js'
import { mintToken } from '../issuer/index.js'
import { importSigningKey, openKeyring, scheduleFor, signingKey } from '../keys/index.js'
import { parseDuration } from './duration.js'
import { UsageError } from './usage-error.js'

/** `jwtgate token --sub ...`: prints a token signed by the gate's active key (service accounts). */
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
      aud: { type: 'string' },
      ttl: { type: 'string', default: '15m' },
      jti: { type: 'string' },
    },
  })
  if (!values.sub) throw new UsageError('token needs --sub SUBJECT')
  if (config.selfIssuer === undefined) {
    throw new UsageError(
      "the gate's own issuer is off (a JWKS URL is set); enable self in the config file",
    )
  }
  const ttl = parseDuration(values.ttl, '--ttl')
  if (ttl > config.maxTokenLifetime) {
    throw new UsageError(
      `--ttl is longer than JWTGATE_MAX_TOKEN_LIFETIME (${config.maxTokenLifetime} s)`,
    )
  }

  const { keyring } = await openKeyring(config.dataDir)
  const key = signingKey(keyring, Date.now(), scheduleFor(config))
  const token = await mintToken(
    { key, privateKey: await importSigningKey(key) },
    {
      issuer: config.selfIssuer,
      audience: values.aud ?? config.audience[0] ?? 'grafana',
      subject: values.sub,
      ttlSeconds: ttl,
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
    },
  )
  console.log(token)
}
