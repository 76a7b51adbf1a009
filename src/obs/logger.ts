import { pino } from 'pino'

import type { Logger, LevelWithSilent } from 'pino'

export type { Logger }

/**
 * Creates the root pino logger: JSON lines on stdout. Modules take a child with `module` set.
 * Header and secret paths are redacted as a backstop; code must not log them in the first place.
 */
export function createLogger(level: LevelWithSilent, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'jwtgate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'token',
          'password',
          'authorization',
          'cookie',
          'headers.authorization',
          'headers.cookie',
          'req.headers.authorization',
          'req.headers.cookie',
          'privateKey',
          'redisUrl',
        ],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  )
}
