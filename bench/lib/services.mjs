// The supporting cast: the JWKS server, an optional Redis, and the nginx front. Each is started,
// waited for, and left in the process registry so that stopAll() ends it.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { nginxConf } from './nginx-conf.mjs'
import { startProcess, waitForPort } from './procs.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))

export async function startJwks({ jwksFile, port, logs }) {
  const args = [path.join(HERE, 'jwks-server.mjs'), jwksFile, String(port)]
  const entry = startProcess('jwks', process.execPath, args, {
    logFile: path.join(logs, 'jwks.log'),
  })
  await waitForPort(entry, port, 10_000)
  return entry
}

// No persistence at all: the variant measures Redis as a live dependency, not as a disk writer.
export async function startRedis({ redis, port, work, logs }) {
  const dir = path.join(work, 'redis')
  mkdirSync(dir, { recursive: true })
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir]
  args.push('--save', '', '--appendonly', 'no')
  const entry = startProcess('redis', redis, args, { logFile: path.join(logs, 'redis.log') })
  await waitForPort(entry, port, 10_000)
  return entry
}

// fronts: [{ target, port }]. nginx runs in the foreground (daemon off) so its master is our child
// and its workers share the master's process group.
export async function startNginx({ nginx, work, logs, grafanaPort, fronts }) {
  const prefix = path.join(work, 'nginx')
  mkdirSync(path.join(prefix, 'tmp'), { recursive: true })
  const conf = path.join(prefix, 'nginx.conf')
  writeFileSync(conf, nginxConf({ prefix, grafanaPort, fronts }))
  const args = ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log'), '-g', 'daemon off;']
  const entry = startProcess('nginx', nginx, args, { logFile: path.join(logs, 'nginx.log') })
  for (const port of [grafanaPort, ...fronts.map((f) => f.port)]) {
    await waitForPort(entry, port, 10_000)
  }
  return { entry, conf }
}
