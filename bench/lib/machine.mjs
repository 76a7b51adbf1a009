// Facts about the host and its processes: which tools exist, their versions, and memory use.
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runToEnd } from './procs.mjs'

// Debian puts nginx and redis-server in /usr/sbin, which a non-root PATH often lacks.
export function findTool(name) {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/local/sbin'])
  for (const dir of dirs.filter(Boolean)) {
    const file = path.join(dir, name)
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {}
  }
  return null
}

// Fail with one line naming the Debian package to install, so the fix is one copy-paste away.
export function requireTools(needs) {
  const found = {}
  for (const [tool, pkg] of Object.entries(needs)) {
    found[tool] = findTool(tool)
    if (!found[tool]) {
      throw new Error(`${tool} not found: install it with "apt-get install -y ${pkg}"`)
    }
  }
  return found
}

export async function nginxHasAuthRequest(nginx) {
  const { out } = await runToEnd(nginx, ['-V'])
  return out.includes('--with-http_auth_request_module')
}

// The version number out of a tool's banner, e.g. "nginx version: nginx/1.22.1" -> "1.22.1".
async function version(cmd, args, pattern) {
  if (!cmd) return null
  const { out } = await runToEnd(cmd, args, { timeoutMs: 10_000 })
  const line = out.trim().split('\n')[0] ?? ''
  return pattern.exec(line)?.[1] ?? (line || 'unknown')
}

export async function machineFacts(tools) {
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    loadavg: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
    node: process.version,
    nginx: await version(tools.nginx, ['-v'], /nginx\/(\S+)/),
    wrk: await version(tools.wrk, ['-v'], /^wrk (?:debian\/)?(\S+)/),
    redis: await version(tools['redis-server'], ['--version'], /v=(\S+)/),
  }
}

function statusKiB(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    )
    return m ? Number(m[1]) : 0
  } catch {
    return 0
  }
}

// The pid and everything it forked: a target that spawns workers is measured whole.
export function processTree(pid) {
  const pids = [pid]
  for (let i = 0; i < pids.length; i++) {
    let kids = ''
    try {
      for (const tid of readdirSync(`/proc/${pids[i]}/task`)) {
        kids += ` ${readFileSync(`/proc/${pids[i]}/task/${tid}/children`, 'utf8')}`
      }
    } catch {}
    for (const k of kids.split(/\s+/).filter(Boolean)) pids.push(Number(k))
  }
  return pids
}

// VmRSS now and VmHWM (peak) in KiB, summed over the process tree.
export function memory(pid) {
  const tree = processTree(pid)
  return {
    rssKiB: tree.reduce((sum, p) => sum + statusKiB(p, 'VmRSS'), 0),
    hwmKiB: tree.reduce((sum, p) => sum + statusKiB(p, 'VmHWM'), 0),
    processes: tree.length,
  }
}
