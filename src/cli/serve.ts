import { loadConfig } from '../config/index.js'
import { createGate, drain, listen } from '../http/index.js'
import { createLogger } from '../obs/logger.js'
import { createMetrics } from '../obs/metrics.js'

/** SIGTERM must end the process within 5 s (SPEC); in-flight requests get most of that. */
const DRAIN_MS = 4_000

/** `jwtgate serve`: loads the config, starts the gate, and drains on SIGTERM or SIGINT. */
export async function runServe(env: NodeJS.ProcessEnv): Promise<void> {
  const { config, warnings } = loadConfig(env)
  const logger = createLogger(config.logLevel)
  for (const warning of warnings) logger.warn(warning)

  const gate = await createGate({ config, logger, metrics: createMetrics() })
  const { server, address } = await listen(gate.app, config)
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${host}:${address.port}`

  logger.info(
    {
      url,
      issuers: config.issuers.map((issuer) => ({ iss: issuer.issuer, keys: issuer.source })),
      denylist: config.redisUrl ? 'redis' : 'memory',
      config_file: config.configFile,
    },
    'jwtgate listening',
  )
  if (config.selfIssuer !== undefined) {
    console.error(`jwtgate: listening on ${url}; standalone issuer ${config.selfIssuer}`)
    console.error('jwtgate: create the first user (password on standard input):')
    console.error(
      "jwtgate:   echo 'a long passphrase' | npx jwtgate users add alice --groups admins",
    )
    console.error('jwtgate: or mint a service token: npx jwtgate token --sub ci-bot')
  } else {
    console.error(`jwtgate: listening on ${url}`)
  }

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'draining')
    gate.startDraining()
    void drain(server, DRAIN_MS)
      .then(() => gate.close())
      .finally(() => {
        logger.info('stopped')
        // The log destination is asynchronous: exit only once its buffer is written.
        logger.flush(() => process.exit(0))
      })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}
