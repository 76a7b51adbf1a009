import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { REPO_ROOT } from './gate.js'
import { freePort } from './ports.js'
import { startProcess } from './processes.js'
import { findBinary } from './requirements.js'

import type { ExitResult } from './processes.js'

/** Absolute path of the nginx config this repository ships. */
export const SHIPPED_NGINX_CONF = join(REPO_ROOT, 'nginx', 'jwtgate.conf')

/** The shipped variant of {@link SHIPPED_NGINX_CONF} that caches the gate's answers. */
export const SHIPPED_NGINX_CACHE_CONF = join(REPO_ROOT, 'nginx', 'jwtgate-auth-cache.conf')

/** Where {@link startNginx} points the shipped config. Addresses are `host:port`. */
export interface NginxOptions {
  /** An `http {}`-level config file; defaults to {@link SHIPPED_NGINX_CONF}. */
  confFile?: string
  jwtgate: string
  grafana: string
  /** Loopback port to listen on; a free one by default. */
  listen?: number
}

/** A running nginx with its own prefix directory. */
export interface Nginx {
  /** Base URL without a trailing slash. */
  readonly url: string
  readonly port: number
  /** The substituted config as nginx read it, for failure messages. */
  readonly config: string
  /** nginx's error log (kept after `stop()`). */
  errorLog(): Promise<string>
  /** Fast shutdown (SIGTERM), then removes the prefix directory. */
  stop(): Promise<ExitResult>
}

/**
 * Starts nginx (`daemon off; master_process on;`) in a fresh prefix directory with `confFile`
 * included at `http {}` level, after pointing its `upstream jwtgate` and `upstream grafana`
 * server lines and its `listen` lines at the given addresses, and moving any `proxy_cache_path`
 * into the prefix. Resolves once nginx answers HTTP on 127.0.0.1:`listen`; rejects with nginx's
 * output when it cannot start.
 */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const binary = findBinary('nginx')
  if (binary === undefined) throw new Error('nginx not installed (apt-get install nginx)')

  const port = options.listen ?? (await freePort())
  const shipped = await readFile(options.confFile ?? SHIPPED_NGINX_CONF, 'utf8')
  const addressed = substituteAddresses(shipped, {
    jwtgate: options.jwtgate,
    grafana: options.grafana,
    listen: `127.0.0.1:${port}`,
  })

  const prefix = await mkdtemp(join(tmpdir(), 'jwtgate-nginx-'))
  const config = relocateCachePaths(addressed, join(prefix, 'cache'))

  // Workers drop root for `nobody`, which must reach the temp paths nginx creates in here.
  await chmod(prefix, 0o755)
  // nginx creates each temp path's last component only.
  await mkdir(join(prefix, 'temp'))
  await writeFile(join(prefix, 'jwtgate.conf'), config)
  await writeFile(join(prefix, 'nginx.conf'), mainConfig(prefix))

  const child = await startProcess({
    name: 'nginx',
    command: binary,
    args: [
      '-p',
      prefix,
      '-c',
      join(prefix, 'nginx.conf'),
      '-e',
      join(prefix, 'error.log'),
      '-g',
      'daemon off; master_process on;',
    ],
  })
  const url = `http://127.0.0.1:${port}`

  let finalLog: string | undefined
  const errorLog = async (): Promise<string> =>
    finalLog ?? (await readFile(join(prefix, 'error.log'), 'utf8').catch(() => ''))
  const stop = async (): Promise<ExitResult> => {
    const result = await child.stop()
    finalLog = await errorLog()
    await rm(prefix, { recursive: true, force: true })
    return result
  }

  try {
    // Any answer proves nginx serves; a bare `/` without a token stops at the auth subrequest.
    await child.waitForHttp(`${url}/`, 10_000)
  } catch (error) {
    const log = await errorLog()
    await stop()
    throw new Error(`${(error as Error).message}\n--- error.log ---\n${log}`, { cause: error })
  }
  return { url, port, config, errorLog, stop }
}

/** The main config around the included file: everything nginx writes stays in `prefix`. */
function mainConfig(prefix: string): string {
  const temp = (name: string): string => join(prefix, 'temp', name)
  return `worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} info;

events {
  worker_connections 256;
}

http {
  access_log off;
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};

  include ${join(prefix, 'jwtgate.conf')};
}
`
}

/** New addresses for {@link substituteAddresses}, each `host:port`. */
export interface Addresses {
  jwtgate: string
  grafana: string
  listen: string
}

const UPSTREAMS: Record<string, 'jwtgate' | 'grafana'> = {
  'upstream jwtgate': 'jwtgate',
  'upstream grafana': 'grafana',
}
const SERVER_LINE = /^(\s*)server\s+[^\s;]+([^;]*;)/
const LISTEN_LINE = /^(\s*)listen\s+[^\s;]+([^;]*;)/

/**
 * Rewrites exactly the lines SPEC lets an operator change: the `server` line of `upstream
 * jwtgate {}` and of `upstream grafana {}`, and the `listen` lines of each `server {}` block.
 * Parameters after the address (`max_fails=...`, `default_server`) are kept. A second `listen`
 * in one server block is commented out, since two would bind the same address twice. Throws
 * when a line the contract promises is missing, so a drifting config fails loudly.
 */
export function substituteAddresses(config: string, addresses: Addresses): string {
  const lines = config.split('\n')
  const blocks = innermostBlocks(lines)
  const found = { jwtgate: 0, grafana: 0, listen: 0 }
  const serversWithListen = new Set<number>()

  const rewritten = lines.map((line, index) => {
    const block = blocks[index]
    const code = stripComment(line)
    const upstream = block && UPSTREAMS[block.name]
    const server = SERVER_LINE.exec(code)
    if (upstream && server) {
      found[upstream] += 1
      return `${server[1]}server ${addresses[upstream]}${server[2]}`
    }

    const listen = LISTEN_LINE.exec(code)
    if (block?.name !== 'server' || !listen) return line
    found.listen += 1
    if (serversWithListen.has(block.id)) return `# ${line}`
    serversWithListen.add(block.id)
    return `${listen[1]}listen ${addresses.listen}${listen[2]}`
  })

  if (found.jwtgate !== 1 || found.grafana !== 1 || found.listen === 0) {
    const counts = JSON.stringify(found)
    throw new Error(`expected one server line per upstream and a listen line, found ${counts}`)
  }
  return rewritten.join('\n')
}

interface Block {
  /** The directive that opened it, whitespace collapsed: `server`, `upstream jwtgate`. */
  name: string
  /** Distinguishes two blocks of one name. */
  id: number
}

/** The innermost block each line starts inside, `undefined` at top level. */
function innermostBlocks(lines: string[]): (Block | undefined)[] {
  const open: Block[] = []
  let header = ''
  let opened = 0

  return lines.map((line) => {
    const current = open.at(-1)
    for (const char of stripComment(line)) {
      if (char === '{') open.push({ name: header.trim().replace(/\s+/g, ' '), id: opened++ })
      else if (char === '}') open.pop()
      if (char === '{' || char === '}' || char === ';') header = ''
      else header += char
    }
    // A directive's name and arguments may span lines.
    header += ' '
    return current
  })
}

const CACHE_PATH_LINE = /^(\s*)proxy_cache_path\s+[^\s;]+/

/**
 * Moves each `proxy_cache_path` directory (a system path such as `/run/...` in a shipped file)
 * to `dir-1`, `dir-2`, ... so that a test's nginx keeps its cache inside its own prefix. Nothing
 * else about the directive changes.
 */
export function relocateCachePaths(config: string, dir: string): string {
  let count = 0
  return config
    .split('\n')
    .map((line) => {
      const match = CACHE_PATH_LINE.exec(stripComment(line))
      if (!match) return line
      count += 1
      return line.replace(CACHE_PATH_LINE, `${match[1]}proxy_cache_path ${dir}-${count}`)
    })
    .join('\n')
}

/** nginx comments run from `#` to the end of the line; the shipped file quotes no `#`. */
function stripComment(line: string): string {
  return line.replace(/#.*$/, '')
}
