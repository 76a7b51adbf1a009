import { ConfigError } from '../config/index.js'
import { runKeys } from './keys.js'
import { runDenylist, runRevoke } from './revoke.js'
import { runServe } from './serve.js'
import { runToken } from './token.js'
import { runUsers } from './users.js'
import { UsageError } from './usage-error.js'

const HELP = `Usage: jwtgate <command> [options]

Commands:
  serve                 run the gate (default)
  keys list             show the signing keys and their rotation states
  keys generate         create the signing keyring if there is none
  keys rotate [--lead 65m]
                        publish a new key now; it signs after the lead time
  users add NAME [--email E] [--name N] [--groups a,b]
                        add a user; the password is read from standard input
  users passwd NAME | remove NAME | disable NAME | enable NAME | list
  token --sub SUBJECT   mint a token from the gate's own issuer (service accounts)
        [--username U] [--email E] [--name N] [--groups a,b] [--ttl 15m] [--jti ID]
  revoke --jti ID [--exp TIME]
                        deny one token (TIME: ISO 8601, epoch seconds or now)
  revoke --sub SUBJECT [--before TIME]
                        deny every token of SUBJECT issued at or before TIME (default now)
  denylist              list the live revocations
  help                  show this text

Configuration comes from JWTGATE_* variables and the optional JWTGATE_CONFIG file;
see README.md.`

/** Runs one CLI command and sets the exit code; the only place that decides how to exit. */
export async function main(argv: string[]): Promise<void> {
  const [command = 'serve', ...rest] = argv
  try {
    switch (command) {
      case 'serve':
        return await runServe(process.env)
      case 'keys':
        return await runKeys(rest, process.env)
      case 'token':
        return await runToken(rest, process.env)
      case 'users':
        return await runUsers(rest, process.env)
      case 'revoke':
        return await runRevoke(rest, process.env)
      case 'denylist':
        return await runDenylist(process.env)
      case 'help':
      case '--help':
      case '-h':
        console.log(HELP)
        return
      default:
        throw new UsageError(`unknown command "${command}"; run "jwtgate help"`)
    }
  } catch (err) {
    process.exitCode = report(err)
  }
}

function report(err: unknown): number {
  if (err instanceof ConfigError) {
    for (const problem of err.problems) console.error(`jwtgate: ${problem}`)
    return 2
  }
  if (err instanceof UsageError) {
    console.error(`jwtgate: ${err.message}`)
    return 2
  }
  console.error(`jwtgate: ${(err as Error).message ?? String(err)}`)
  return 1
}
