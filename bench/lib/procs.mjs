// Every process the bench starts goes through here, so one registry knows what to stop on the
// way out: normal end, an error, Ctrl-C or SIGTERM. Each child leads its own process group
// (detached), which lets us stop nginx's workers or anything a target forks with the master's
// pid alone, and keeps the terminal's Ctrl-C from hitting the children before we decide the order.
import { spawn } from 'node:child_process'
import { openSync, closeSync, readFileSync } from 'node:fs'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

const live = new Map() // pid -> entry, while the process runs

// 'close' (not 'exit') resolves `done`, so piped output is complete when a caller awaits it.
function track(name, child, logFile) {
  const entry = { name, child, logFile, exited: null }
  const gone = (exited) => {
    entry.exited ??= exited
    live.delete(child.pid)
  }
  child.on('exit', (code, signal) => gone({ code, signal, at: new Date().toISOString() }))
  child.on('error', (err) => gone({ code: null, signal: null, error: err.message }))
  entry.done = new Promise((resolve) => child.on('close', () => resolve(entry.exited)))
  if (child.pid) live.set(child.pid, entry)
  return entry
}

// A long-lived server; its stdout and stderr go to logFile.
export function startProcess(name, cmd, args, { env = {}, cwd, logFile } = {}) {
  const fd = logFile ? openSync(logFile, 'a') : 'ignore'
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', fd, fd],
    detached: true,
  })
  if (typeof fd === 'number') closeSync(fd) // the child holds its own copy
  return track(name, child, logFile)
}

// A short-lived tool whose output we read (wrk, the build, version probes).
export function startPiped(cmd, args, { cwd, env = {} } = {}) {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  return track(cmd, child, null)
}

// Signal the whole group by its leader's pid (= its pgid, as every child is spawned detached).
// Never the bare pid after the fact: once reaped, that number may belong to someone else,
// whereas a pgid cannot be reused while any member of the group is alive.
function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal)
  } catch {}
}

// SIGTERM first so servers drain and nginx removes its pid file; SIGKILL whatever is left.
export async function stopProcess(entry, graceMs = 5000) {
  if (!entry || entry.exited || !entry.child.pid) return
  const pid = entry.child.pid
  signalGroup(pid, 'SIGTERM')
  await Promise.race([entry.done, sleep(graceMs)])
  // Past the grace period, or a group that outlives its leader (a forked worker): force it.
  signalGroup(pid, 'SIGKILL')
  await Promise.race([entry.done, sleep(1000)])
}

// All at once: nothing here depends on another process staying up while it stops.
export async function stopAll() {
  await Promise.all([...live.values()].map((e) => stopProcess(e)))
}

export function livePids() {
  return [...live.keys()]
}

// Last resort when the event loop is about to end (process.on('exit') cannot wait).
export function killAllSync() {
  for (const pid of live.keys()) signalGroup(pid, 'SIGKILL')
  live.clear()
}

export function logTail(entry, lines = 15) {
  let text = ''
  try {
    text = readFileSync(entry.logFile, 'utf8').trimEnd()
  } catch {}
  return text ? text.split('\n').slice(-lines).join('\n') : '(empty log)'
}

// Ask the kernel for free ports; all sockets stay open until every port is picked so that one call
// never hands out the same port twice.
export async function freePorts(count) {
  const servers = []
  try {
    for (let i = 0; i < count; i++) {
      const srv = net.createServer()
      await new Promise((resolve, reject) => {
        srv.once('error', reject)
        srv.listen(0, '127.0.0.1', resolve)
      })
      servers.push(srv)
    }
    return servers.map((s) => s.address().port)
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    sock.once('connect', () => {
      sock.destroy()
      resolve(true)
    })
    sock.once('error', () => resolve(false))
  })
}

// Wait until the process listens, or report why not (it died, or it is too slow).
export async function waitForPort(entry, port, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (entry.exited) {
      const how =
        entry.exited.error ?? `exit code ${entry.exited.code}, signal ${entry.exited.signal}`
      throw new Error(
        `${entry.name} exited before listening on ${port} (${how})\n${logTail(entry)}`,
      )
    }
    if (await canConnect(port)) return
    await sleep(100)
  }
  const waited = `${timeoutMs / 1000} s`
  throw new Error(
    `${entry.name} did not listen on 127.0.0.1:${port} within ${waited}\n${logTail(entry)}`,
  )
}

// Run a short command to completion; its output is returned, not streamed.
export function runToEnd(cmd, args, { cwd, env = {}, timeoutMs = 300_000 } = {}) {
  return new Promise((resolve) => {
    const entry = startPiped(cmd, args, { cwd, env })
    let out = ''
    entry.child.stdout.on('data', (d) => (out += d))
    entry.child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => stopProcess(entry, 1000), timeoutMs)
    entry.done.then(({ code, error }) => {
      clearTimeout(timer)
      resolve({ code, out: error ? `${out}${error}\n` : out })
    })
  })
}
