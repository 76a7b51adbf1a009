// One wrk run: load a URL for a fixed time with a tokens file, return what load.lua reported.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startPiped, stopProcess } from './procs.mjs'

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'load.lua')

export async function runWrk(wrk, { url, tokensFile, seconds, connections }) {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '-s', SCRIPT, url, '--', tokensFile]
  const entry = startPiped(wrk, args)
  let out = ''
  entry.child.stdout.on('data', (d) => (out += d))
  entry.child.stderr.on('data', (d) => (out += d))
  // wrk stops itself after -d; this only guards against a wedged client.
  const guard = setTimeout(() => stopProcess(entry, 1000), (seconds + 20) * 1000)
  const { code } = await entry.done
  clearTimeout(guard)
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '))
  if (!line) throw new Error(`wrk ${args.join(' ')} gave no result (exit ${code}):\n${out.trim()}`)
  const r = JSON.parse(line.slice('BENCH_JSON '.length))
  const socketErrors = r.connect_errors + r.read_errors + r.write_errors + r.timeouts
  return {
    rps: r.rps,
    requests: r.requests,
    p50Ms: r.p50_us / 1000,
    p90Ms: r.p90_us / 1000,
    p99Ms: r.p99_us / 1000,
    maxMs: r.max_us / 1000,
    non200: r.non200,
    socketErrors,
    valid: r.requests > 0 && r.non200 === 0 && socketErrors === 0,
  }
}
