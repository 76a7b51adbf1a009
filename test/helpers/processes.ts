import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request } from 'node:http'

import type { ChildProcess } from 'node:child_process'

/** How a child process ended: an exit code, or the signal that ended it. */
export interface ExitResult {
  code: number | null
  signal: NodeJS.Signals | null
}

/** What {@link startProcess} runs. `env` replaces the parent's environment when given. */
export interface StartProcessOptions {
  command: string
  args?: string[]
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Label used in error messages; defaults to the command. */
  name?: string
}

/** A child started by {@link startProcess}, with its output kept in memory for assertions. */
export interface RunningProcess {
  readonly name: string
  readonly pid: number
  /** Resolves once the child has exited, however that happened. */
  readonly exited: Promise<ExitResult>
  stdout(): string
  stderr(): string
  /** Both streams, interleaved in arrival order. */
  output(): string
  /**
   * Polls `url` until an HTTP answer `accept`s (any status by default) and resolves with its
   * status; rejects with the child's output if the child exits or `timeoutMs` passes first.
   */
  waitForHttp(
    url: string,
    timeoutMs?: number,
    accept?: (status: number) => boolean,
  ): Promise<number>
  /** SIGTERM to the child's own pid, SIGKILL after `graceMs` (default 5000); idempotent. */
  stop(graceMs?: number): Promise<ExitResult>
}

const live = new Set<ChildProcess>()
let exitHookInstalled = false

/**
 * Spawns `command` as a non-detached child and captures its stdout and stderr.
 *
 * Rejects when the command cannot be spawned (e.g. ENOENT). Every child is also stopped when
 * the test process exits, so a crashed run leaves no server behind on a port.
 */
export async function startProcess(options: StartProcessOptions): Promise<RunningProcess> {
  const name = options.name ?? options.command
  const child = spawn(options.command, options.args ?? [], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: false,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // Listen before the first await, so neither early output nor an early exit goes unseen.
  const out = captureOutput(child)
  const exited = new Promise<ExitResult>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child)
      resolve({ code, signal })
    })
  })
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', (error) => reject(new Error(`cannot start ${name}`, { cause: error })))
  })
  installExitHook()
  if (child.exitCode === null && child.signalCode === null) live.add(child)

  const explain = (): string => `${name} (pid ${child.pid})\n--- output ---\n${out.all()}`

  return {
    name,
    pid: child.pid as number,
    exited,
    stdout: out.stdout,
    stderr: out.stderr,
    output: out.all,
    waitForHttp: (url, timeoutMs = 10_000, accept) =>
      waitForHttp(url, timeoutMs, { accept, exited, describe: explain }),
    stop: (graceMs = 5_000) => stopChild(child, exited, graceMs),
  }
}

interface CapturedOutput {
  stdout(): string
  stderr(): string
  all(): string
}

function captureOutput(child: ChildProcess): CapturedOutput {
  const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[], all: [] as Buffer[] }
  child.stdout?.on('data', (chunk: Buffer) => {
    chunks.stdout.push(chunk)
    chunks.all.push(chunk)
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    chunks.stderr.push(chunk)
    chunks.all.push(chunk)
  })
  return {
    stdout: () => Buffer.concat(chunks.stdout).toString('utf8'),
    stderr: () => Buffer.concat(chunks.stderr).toString('utf8'),
    all: () => Buffer.concat(chunks.all).toString('utf8'),
  }
}

/** Options of {@link waitForHttp}; `exited` and `describe` let a process's death end the wait. */
export interface WaitForHttpOptions {
  accept?: ((status: number) => boolean) | undefined
  exited?: Promise<ExitResult>
  describe?: () => string
  /** Milliseconds between two probes; default 100. A startup timer wants a finer one. */
  intervalMs?: number
}

/**
 * Polls `url` with GET every 100 ms (`intervalMs`) until a server answers with a status
 * `accept` takes (any status by default), and resolves with that status. Rejects after `timeoutMs`, or as soon as
 * `options.exited` settles, with `options.describe()` in the message.
 */
export async function waitForHttp(
  url: string,
  timeoutMs = 10_000,
  options: WaitForHttpOptions = {},
): Promise<number> {
  const deadline = Date.now() + timeoutMs
  let ended: ExitResult | undefined
  void options.exited?.then((result) => (ended = result))
  const details = (): string => (options.describe ? `\n${options.describe()}` : '')

  for (;;) {
    const status = await probe(url)
    if (status !== undefined && (options.accept?.(status) ?? true)) return status
    if (ended) {
      throw new Error(`exited (${ended.code ?? ended.signal}) before ${url} answered${details()}`)
    }
    if (Date.now() > deadline) {
      throw new Error(`${url} gave no accepted answer within ${timeoutMs} ms${details()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100))
  }
}

/** One GET without keep-alive, so polling leaves no pooled socket behind. */
function probe(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 1_000 }, (res) => {
      res.resume()
      resolve(res.statusCode)
    })
    req.once('timeout', () => req.destroy())
    req.once('error', () => resolve(undefined))
    req.end()
  })
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<ExitResult>,
  graceMs: number,
): Promise<ExitResult> {
  if (child.exitCode === null && child.signalCode === null) {
    // Signal the pid itself, never the group: the test runner shares our process group.
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }
  return exited
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', killSurvivors)

  // Vitest ends its fork workers with SIGTERM (and SIGKILL 500 ms later), and a process that a
  // signal ends never emits 'exit'.
  for (const signal of SIGNALS) {
    const onSignal = (): void => {
      killSurvivors()
      process.off(signal, onSignal)
      // Die of the same signal, as without this handler, so the exit status stays truthful.
      process.kill(process.pid, signal)
    }
    process.on(signal, onSignal)
  }
}

/**
 * Runs where only synchronous code can: SIGTERM first, so nginx's master can take its workers
 * down, then SIGKILL whatever still runs after 300 ms, well inside Vitest's 500 ms.
 */
function killSurvivors(): void {
  const children = [...live]
  for (const child of children) child.kill('SIGTERM')

  const deadline = Date.now() + 300
  const pause = new Int32Array(new SharedArrayBuffer(4))
  while (children.some(isRunning) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 10)
  for (const child of children.filter(isRunning)) child.kill('SIGKILL')
}

/**
 * The event loop no longer reaps children during 'exit', so a child that has ended lingers as a
 * zombie; /proc tells the two apart. Without /proc every child counts as running.
 */
function isRunning(child: ChildProcess): boolean {
  if (process.platform !== 'linux') return true
  try {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ENOENT'
  }
}
