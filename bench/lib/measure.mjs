// The load schedule. Per scenario: one unrecorded warm-up per target, then the repetitions
// interleaved A B C, C B A, A B C, … so that drift on a shared machine (CPU boost, a noisy
// neighbour, a GC-heavy minute) lands on every target alike instead of on whoever ran last.
import { setTimeout as sleep } from 'node:timers/promises'
import { cpuSnapshot, foreignCores, targetTicks } from './cpu.mjs'
import { memory } from './machine.mjs'
import { livePids, logTail } from './procs.mjs'
import { runWrk } from './wrk.mjs'

function urlFor(scenario, target) {
  return scenario.endsWith('-via-nginx')
    ? `http://127.0.0.1:${target.frontPort}/dashboards`
    : `http://127.0.0.1:${target.port}/auth`
}

function tokensFor(scenario, files) {
  return scenario.startsWith('hot-') ? files.hot : files.cold
}

// A target that died under load is dropped from the rest of the schedule and reported.
function stillUp(target, failures) {
  if (target.dead) return false
  if (!target.entry.exited) return true
  target.dead = true
  const { code, signal, at } = target.entry.exited
  // The bench signals targets only at the very end, so any exit before that came from elsewhere.
  const hint = code === 0 ? '; a clean exit: it was probably sent SIGTERM/SIGINT from outside' : ''
  const what = `exited during the bench at ${at} (code ${code}, signal ${signal}${hint})`
  failures.push({ target: target.name, problems: [`${what}; log tail:\n${logTail(target.entry)}`] })
  return false
}

const fmt = (ms) => ms.toFixed(2)

// record(obj) receives every run and memory sample (raw.jsonl); log(text) is progress for humans.
export async function measure({ opts, wrk, targets, files, record, log, failures }) {
  const runs = []
  const mem = {}
  const run = (scenario, t, seconds) =>
    runWrk(wrk, {
      url: urlFor(scenario, t),
      tokensFile: tokensFor(scenario, files),
      seconds,
      connections: opts.connections,
    })

  for (const scenario of opts.scenarios) {
    log(`\n${scenario}`)
    for (const t of targets) {
      if (!stillUp(t, failures)) continue
      const w = await run(scenario, t, opts.warmup)
      log(
        `  warm-up   ${t.name.padEnd(12)} ${Math.round(w.rps)} req/s${w.valid ? '' : '  (errors)'}`,
      )
    }
    for (let rep = 0; rep < opts.reps; rep++) {
      const order = rep % 2 ? [...targets].reverse() : targets
      for (const t of order) {
        if (!stillUp(t, failures)) continue
        await sleep(300) // let the previous run's connections close before the next one opens
        const before = cpuSnapshot(livePids())
        const ticks = targetTicks(t.entry.child.pid)
        const r = await run(scenario, t, opts.duration)
        r.otherCores = foreignCores(before, cpuSnapshot(livePids()))

        // CPU per answer barely moves when a neighbour steals time, unlike req/s: the steadier
        // figure on a shared machine.
        const used = targetTicks(t.entry.child.pid) - ticks
        r.cpuUsPerRequest = r.requests > 0 ? (used * 10_000) / r.requests : NaN
        const row = { type: 'run', scenario, target: t.name, rep, seconds: opts.duration, ...r }
        runs.push(row)
        record({ ...row, at: new Date().toISOString() })
        const flag = r.valid
          ? 'ok'
          : `INVALID: ${r.non200} not 200, ${r.socketErrors} socket errors`
        const rps = `${String(Math.round(r.rps)).padStart(6)} req/s`
        const label = `  rep ${rep + 1}/${opts.reps}   ${t.name.padEnd(12)}`
        const other = `other load ${r.otherCores.toFixed(2)} cores`
        log(`${label} ${rps}  p99 ${fmt(r.p99Ms)} ms  ${other}  ${flag}`)
      }
    }
    mem[scenario] = {}
    for (const t of targets) {
      if (!stillUp(t, failures)) continue
      const m = memory(t.entry.child.pid)
      mem[scenario][t.name] = m
      record({ type: 'memory', scenario, target: t.name, ...m })
    }
  }
  return { runs, memory: mem }
}
