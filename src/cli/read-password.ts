import { UsageError } from './usage-error.js'

/** Fewest characters a new password may have (NIST SP 800-63B §5.1.1.2). */
export const MIN_PASSWORD_LENGTH = 8

/** Most characters a new password may have; far beyond any passphrase, short of abuse. */
export const MAX_PASSWORD_LENGTH = 1024

const EXAMPLE = 'example: printf \'%s\\n\' "$PASSWORD" | jwtgate users add alice'

/**
 * Reads a new password for `jwtgate users add|passwd`: all of standard input with one trailing
 * newline dropped, or, when standard input is a terminal, typed twice at a prompt on stderr
 * without echo. Throws UsageError when it is empty, shorter than 8 or longer than 1024
 * characters; the message never contains the password.
 */
export async function readNewPassword(): Promise<string> {
  const stdin = process.stdin
  let password: string
  if (stdin.isTTY) {
    password = await promptHidden('Password: ')
    if ((await promptHidden('Repeat password: ')) !== password) {
      throw new UsageError('the two passwords differ; nothing was changed')
    }
  } else {
    password = await readAll(stdin)
  }

  const length = [...password].length
  if (length === 0) throw new UsageError(`no password on standard input; ${EXAMPLE}`)
  if (length < MIN_PASSWORD_LENGTH) {
    throw new UsageError(`the password is shorter than ${MIN_PASSWORD_LENGTH} characters`)
  }
  if (length > MAX_PASSWORD_LENGTH) {
    throw new UsageError(`the password is longer than ${MAX_PASSWORD_LENGTH} characters`)
  }
  return password
}

async function readAll(stream: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))
    size += buffer.length
    // Four bytes per character at most: anything larger cannot pass the length check anyway.
    if (size > MAX_PASSWORD_LENGTH * 4 + 2) {
      throw new UsageError(`the password is longer than ${MAX_PASSWORD_LENGTH} characters`)
    }
    chunks.push(buffer)
  }
  // `echo` and heredocs end with a newline that nobody means as part of the password.
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
}

function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin
  process.stderr.write(prompt)
  stdin.setRawMode(true)
  stdin.setEncoding('utf8')
  stdin.resume()

  return new Promise((resolve, reject) => {
    let typed = ''
    const finish = (error?: Error): void => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
      if (error) reject(error)
      else resolve(typed)
    }
    const onData = (chunk: string): void => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish()
        // Raw mode turns Ctrl-C into a character instead of SIGINT.
        if (char === '\u0003') return finish(new UsageError('cancelled; nothing was changed'))
        if (char === '\u007f' || char === '\b') typed = [...typed].slice(0, -1).join('')
        else typed += char
      }
    }
    stdin.on('data', onData)
  })
}
