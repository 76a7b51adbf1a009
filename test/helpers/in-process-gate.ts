import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { loadConfig } from '../../src/config/index.js'
import { createGate, drain, listen } from '../../src/http/index.js'
import { createLogger } from '../../src/obs/logger.js'
import { createMetrics } from '../../src/obs/metrics.js'

import type { Config } from '../../src/config/index.js'
import type { Gate } from '../../src/http/index.js'
import type { Metrics } from '../../src/obs/metrics.js'
import type { DestinationStream, LevelWithSilent } from 'pino'

/** A gate running inside the test process, answering real HTTP on 127.0.0.1. */
export interface InProcessGate {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  readonly gate: Gate
  readonly config: Config
  readonly metrics: Metrics
  /** Drains the server, closes the gate and removes its data dir. */
  close(): Promise<void>
}

export interface InProcessGateOptions {
  /** Receives the gate's pino JSON lines; see {@link captureLogs}. */
  logStream?: DestinationStream
  /** Waits for the first fetch of every remote JWKS before resolving (default true). */
  waitForKeys?: boolean
}

/**
 * Builds a gate from `env` exactly as `jwtgate serve` would (loadConfig, createGate, listen),
 * on a kernel-chosen loopback port with a fresh data dir and silent logs unless `env` says
 * otherwise. Entries of `env` override those defaults.
 */
export async function startInProcessGate(
  env: Record<string, string> = {},
  options: InProcessGateOptions = {},
): Promise<InProcessGate> {
  const dataDir = await mkdtemp(join(tmpdir(), 'jwtgate-inproc-'))
  const { config, warnings } = loadConfig({
    JWTGATE_PORT: '0',
    JWTGATE_HOST: '127.0.0.1',
    JWTGATE_LOG_LEVEL: 'silent',
    JWTGATE_DATA_DIR: dataDir,
    ...env,
  })
  const logger = createLogger(config.logLevel as LevelWithSilent, options.logStream)
  for (const warning of warnings) logger.warn(warning)

  const metrics = createMetrics()
  const gate = await createGate({ config, logger, metrics })
  let server
  try {
    ;({ server } = await listen(gate.app, config))
    if (options.waitForKeys ?? true) await gate.firstFetch
  } catch (error) {
    await gate.close()
    await rm(dataDir, { recursive: true, force: true })
    throw error
  }
  const { port } = server.address() as { port: number }

  return {
    url: `http://127.0.0.1:${port}`,
    gate,
    config,
    metrics,
    close: async () => {
      await drain(server, 1_000)
      await gate.close()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** A pino destination that keeps every log record, parsed, for assertions. */
export interface LogCapture {
  readonly stream: DestinationStream
  /** Records written so far. */
  records(): Record<string, unknown>[]
  /** The raw JSON lines written so far, joined: for "never appears in the log" checks. */
  text(): string
}

export function captureLogs(): LogCapture {
  const lines: string[] = []
  return {
    stream: { write: (line: string) => void lines.push(line) },
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    text: () => lines.join(''),
  }
}

/**
 * Reads one sample of a Prometheus text exposition: `labels` must match the sample's labels
 * exactly (order-insensitive). Returns 0 when the sample is absent, as counters start there.
 */
export async function readMetric(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const response = await fetch(`${url}/metrics`)
  const text = await response.text()
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort()
    .join(',')
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const found = (match[2] ?? '')
      .split(/,(?=[a-zA-Z_]\w*=")/)
      .filter((pair) => pair !== '')
      .sort()
      .join(',')
    if (found === wanted) return Number(match[3])
  }
  return 0
}
