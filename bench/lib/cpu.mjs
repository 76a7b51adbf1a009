// How busy the machine was with things the bench did not start. On a shared box another job can
// take a core away from one run and not the next; this makes that visible instead of leaving a
// strange ratio unexplained. Linux /proc only; elsewhere every figure reads 0.
import { readFileSync } from 'node:fs'
import { processTree } from './machine.mjs'

function read(file) {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

// Busy and stolen clock ticks of the whole machine.
function machineTicks() {
  const f = read('/proc/stat').split('\n')[0].split(/\s+/).slice(1).map(Number)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f
  return { busy: user + nice + system + irq + softirq, steal }
}

// utime + stime of one process, plus its reaped children's (cutime + cstime) if asked: wrk has
// exited by the time a run is read, and its time then sits in the runner's cutime.
function processTicks(pid, withChildren) {
  const stat = read(`/proc/${pid}/stat`)
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number)
  const own = (f[11] || 0) + (f[12] || 0)
  return withChildren ? own + (f[13] || 0) + (f[14] || 0) : own
}

// pids: the long-lived processes the bench started (their whole trees are counted).
export function cpuSnapshot(pids) {
  let ours = processTicks(process.pid, true)
  for (const pid of pids) for (const p of processTree(pid)) ours += processTicks(p, false)
  return { at: performance.now(), ours, ...machineTicks() }
}

// Cores' worth of CPU used by everything else between two snapshots (stolen time included).
export function foreignCores(before, after) {
  const seconds = (after.at - before.at) / 1000
  const ticks = after.busy - before.busy - (after.ours - before.ours) + after.steal - before.steal
  return seconds > 0 ? Math.max(0, ticks / 100 / seconds) : 0
}

// CPU ticks (1/100 s) used so far by one target: its process and everything it started.
export function targetTicks(pid) {
  let ticks = 0
  for (const p of processTree(pid)) ticks += processTicks(p, false)
  return ticks
}
