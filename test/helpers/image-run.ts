import { execFileSync } from 'node:child_process'
import { chmod, chown, cp, lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join, posix } from 'node:path'
import { performance } from 'node:perf_hooks'

import { readRuntimeImage, readStages } from './dockerfile.js'
import { REPO_ROOT } from './gate.js'
import { freePort } from './ports.js'
import { startProcess, waitForHttp } from './processes.js'
import { findBinary } from './requirements.js'

import type { CopyStep, RuntimeImage, Stage } from './dockerfile.js'
import type { ExitResult, RunningProcess } from './processes.js'

/** The app started from a directory laid out as the image's final stage lays it out. */
export interface ImageRun {
  readonly url: string
  /** Stands in for the image's WORKDIR; read-only while the app runs. */
  readonly appDir: string
  /** Stands in for the image's data VOLUME; the only place the app may write. */
  readonly volumeDir: string
  readonly image: RuntimeImage
  /** What the app was started with: the image's ENTRYPOINT and CMD, `node` resolved. */
  readonly argv: string[]
  /** The user the app ran as: the image's USER when the tests run as root, else the tester. */
  readonly uid: number
  /** Milliseconds from spawning the process to the first 200 from /healthz. */
  readonly startupMs: number
  readonly process: RunningProcess
  stop(): Promise<ExitResult>
}

/**
 * Emulates `docker run` of the final stage of `dockerfile` without a container engine: copies
 * exactly the files its COPY steps copy into a fresh directory (production dependencies come
 * from the deps stage's own `npm ci` line, run against the npm cache with --offline; dist/
 * from the repository's build), makes that directory read-only, points the data VOLUME at a
 * writable temp dir, and runs ENTRYPOINT + CMD there with the image's ENV alone (plus a
 * loopback address and a free port). Run as root, the app runs as the image's USER.
 */
export async function startLikeImage(dockerfile: string): Promise<ImageRun> {
  const content = await readFile(dockerfile, 'utf8')
  const image = readRuntimeImage(content)
  const stages = readStages(content)
  const workdir = image.workdir ?? '/'

  const appDir = await mkdtemp(join(tmpdir(), 'jwtgate-image-'))
  const volumeDir = await mkdtemp(join(tmpdir(), 'jwtgate-volume-'))
  const cleanup = async (): Promise<void> => {
    await makeWritable(appDir)
    await rm(appDir, { recursive: true, force: true })
    await rm(volumeDir, { recursive: true, force: true })
  }

  try {
    await chmod(appDir, 0o755)
    for (const step of image.copies) await applyCopy(step, stages, workdir, appDir)
    await makeReadOnly(appDir)
    const uid = await prepareVolume(image, volumeDir)
    return await launch({ image, appDir, volumeDir, uid, cleanup })
  } catch (error) {
    await cleanup()
    throw error
  }
}

interface LaunchOptions {
  image: RuntimeImage
  appDir: string
  volumeDir: string
  uid: number
  cleanup: () => Promise<void>
}

async function launch(options: LaunchOptions): Promise<ImageRun> {
  const { image, appDir, volumeDir, uid, cleanup } = options
  const port = await freePort()
  const argv = [...image.entrypoint, ...image.cmd].map((arg, index) =>
    index === 0 && arg === 'node' ? process.execPath : arg,
  )
  const [command, ...args] = asUser(argv, image, uid)
  const env = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    ...image.env,
    JWTGATE_DATA_DIR: volumeDir,
    JWTGATE_HOST: '127.0.0.1',
    JWTGATE_PORT: String(port),
  }

  const url = `http://127.0.0.1:${port}`
  const started = performance.now()
  const child = await startProcess({
    name: 'jwtgate (image)',
    command: command as string,
    args,
    env,
    cwd: appDir,
  })
  const stop = async (): Promise<ExitResult> => {
    const result = await child.stop(8_000)
    await cleanup()
    return result
  }
  try {
    // A 10 ms probe interval, so the startup time measured is not rounded up to a coarse step.
    await waitForHttp(`${url}/healthz`, 10_000, {
      accept: (status) => status === 200,
      exited: child.exited,
      describe: child.output,
      intervalMs: 10,
    })
  } catch (error) {
    await stop()
    throw error
  }
  const startupMs = performance.now() - started
  return { url, appDir, volumeDir, image, argv, uid, startupMs, process: child, stop }
}

async function applyCopy(
  step: CopyStep,
  stages: Stage[],
  workdir: string,
  appDir: string,
): Promise<void> {
  for (const source of step.sources) {
    const target = join(appDir, destinationOf(step, source, workdir))
    if (step.from === undefined) {
      await cp(join(REPO_ROOT, source), target, { recursive: true })
    } else {
      await produceStageOutput(stages, step.from, source, target)
    }
  }
}

/** Docker's rule: a destination ending in `/` (or several sources) is a directory to copy into. */
function destinationOf(step: CopyStep, source: string, workdir: string): string {
  const destination = posix.resolve(workdir, step.destination)
  const intoDirectory = step.destination.endsWith('/') || step.sources.length > 1
  const path = intoDirectory ? posix.join(destination, basename(source)) : destination
  return posix.relative(workdir, path)
}

/**
 * What a build stage leaves at `path`, made here the way that stage makes it. Only the two
 * outputs the Dockerfile uses are known; anything else is an error, so a change to the
 * Dockerfile cannot silently leave this emulation behind.
 */
async function produceStageOutput(
  stages: Stage[],
  name: string,
  path: string,
  target: string,
): Promise<void> {
  const stage = stages.find((candidate) => candidate.name === name)
  if (stage === undefined) throw new Error(`COPY --from=${name}: no such stage`)
  const stageWorkdir = lastArgument(stage, 'WORKDIR') ?? '/'
  const runs = stage.instructions
    .filter((instruction) => instruction.getKeyword() === 'RUN')
    .map((instruction) => instruction.getArgumentsContent() ?? '')

  if (path === posix.join(stageWorkdir, 'node_modules')) {
    const npmCi = runs
      .map((run) => /npm ci\b[^&;|\n]*/.exec(run.replace(/\\\n/g, ' ')))
      .find(Boolean)
    if (!npmCi) throw new Error(`stage ${name} has no "npm ci" to produce ${path}`)
    await installOffline(npmCi[0].trim().split(/\s+/).slice(2), target)
    return
  }
  if (
    path === posix.join(stageWorkdir, 'dist') &&
    runs.some((run) => run.includes('npm run build'))
  ) {
    // `npm test` builds dist/ first (pretest), from the same sources and tsconfig.build.json.
    await cp(join(REPO_ROOT, 'dist'), target, { recursive: true })
    return
  }
  throw new Error(`unknown output ${path} of stage ${name}; teach test/helpers/image-run.ts`)
}

/**
 * Runs `npm ci` with the Dockerfile's own flags in a scratch dir holding only the manifest and
 * lockfile, from the npm cache (--offline: the tests reach no registry), and moves the result.
 */
async function installOffline(flags: string[], target: string): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'jwtgate-deps-'))
  try {
    for (const file of ['package.json', 'package-lock.json']) {
      await cp(join(REPO_ROOT, file), join(scratch, file))
    }
    const npm = findBinary('npm')
    if (npm === undefined) throw new Error('npm not found on PATH')
    try {
      execFileSync(npm, ['ci', ...flags, '--offline'], { cwd: scratch, stdio: 'pipe' })
    } catch (error) {
      const stderr = String((error as { stderr?: Buffer }).stderr ?? '')
      throw new Error(`npm ci --offline failed (run "npm ci" once to fill the cache):\n${stderr}`)
    }
    await cp(join(scratch, 'node_modules'), target, { recursive: true, verbatimSymlinks: true })
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

function lastArgument(stage: Stage, keyword: string): string | undefined {
  const found = stage.instructions.filter((instruction) => instruction.getKeyword() === keyword)
  return found.at(-1)?.getArguments()[0]?.getValue()
}

/**
 * Gives the volume to the image's USER (as the image's `chown` of /data does) when the tests
 * run as root, and returns the uid the app will run as.
 */
async function prepareVolume(image: RuntimeImage, volumeDir: string): Promise<number> {
  await chmod(volumeDir, 0o700)
  const self = process.getuid?.() ?? -1
  if (self !== 0) return self

  const [uid, gid] = numericUser(image)
  await chown(volumeDir, uid, gid)
  return uid
}

function numericUser(image: RuntimeImage): [number, number] {
  const match = /^(\d+)(?::(\d+))?$/.exec(image.user ?? '')
  if (!match) throw new Error(`USER must be numeric uid[:gid], found "${image.user ?? ''}"`)
  return [Number(match[1]), Number(match[2] ?? match[1])]
}

/** Root ignores file modes, so a root test run drops to the image's USER with setpriv. */
function asUser(argv: string[], image: RuntimeImage, uid: number): string[] {
  if (process.getuid?.() !== 0) return argv
  const setpriv = findBinary('setpriv')
  if (setpriv === undefined) throw new Error('running as root needs setpriv (util-linux)')
  const [, gid] = numericUser(image)
  return [setpriv, `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', ...argv]
}

async function makeReadOnly(dir: string): Promise<void> {
  await walk(dir, async (path, isDir) => chmod(path, isDir ? 0o555 : 0o444))
}

async function makeWritable(dir: string): Promise<void> {
  await walk(dir, async (path, isDir) => chmod(path, isDir ? 0o755 : 0o644)).catch(() => {})
}

/** Visits `dir` and every file and directory below it, each directory before its contents. */
async function walk(
  dir: string,
  visit: (path: string, isDir: boolean) => Promise<void>,
): Promise<void> {
  await visit(dir, true)
  for (const entry of await readdir(dir)) {
    const path = join(dir, entry)
    const stats = await lstat(path)
    if (stats.isSymbolicLink()) continue
    if (stats.isDirectory()) await walk(path, visit)
    else await visit(path, false)
  }
}
