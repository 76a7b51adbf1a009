// Turns recorded runs into the Markdown summary. Only ratios within one invocation carry over
// between machines; absolute req/s are printed to show scale and noise, nothing more.

export function median(xs) {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

const ok = Number.isFinite
const fmtInt = (x) => (ok(x) ? Math.round(x).toLocaleString('en-US') : 'n/a')
const fmtMs = (x) => (ok(x) ? x.toFixed(x < 10 ? 2 : 1) : 'n/a')
const fmtRatio = (x) => (ok(x) ? x.toFixed(2) : 'n/a')
const fmtMiB = (kib) => (kib ? (kib / 1024).toFixed(0) : 'n/a')

// A variant shows the env it adds, so the table's names explain themselves.
function label(t) {
  const extra = Object.entries(t.extraEnv ?? {}).map(([k, v]) => `${k}=${v}`)
  return extra.length ? `${t.name} (${extra.join(' ')})` : t.name
}

export function header(facts, opts, targets) {
  const order = targets.map((_, i) => String.fromCharCode(65 + i))
  const schedule = `${order.join(' ')} / ${[...order].reverse().join(' ')} / …`
  const redis = facts.redis ? `, redis ${facts.redis}` : ''
  const slot = opts.gateCmd ? ` (jwtgate slot runs: ${opts.gateCmd})` : ''
  return [
    `# jwtgate bench, ${facts.date}`,
    '',
    `- machine: ${facts.nproc} CPUs (${facts.cpu}), ${facts.memGiB} GiB, ${facts.kernel}, ` +
      `load ${facts.loadavg}`,
    `- versions: node ${facts.node}, nginx ${facts.nginx ?? 'n/a'}, wrk ${facts.wrk}${redis}`,
    `- method: wrk -t1 -c${opts.connections}, ${opts.duration} s × ${opts.reps} per target and ` +
      `scenario after a ${opts.warmup} s warm-up, order ${schedule}; ` +
      `${opts.coldTokens} cold tokens`,
    `- targets: ${targets.map(label).join(', ')}${slot}`,
    '',
  ].join('\n')
}

function statsOf(runs) {
  const valid = runs.filter((r) => r.valid)
  const rps = valid.map((r) => r.rps)
  return {
    total: runs.length,
    valid: valid.length,
    rps: median(rps),
    spread: valid.length > 1 ? (Math.max(...rps) - Math.min(...rps)) / median(rps) : NaN,
    p50: median(valid.map((r) => r.p50Ms)),
    p99: median(valid.map((r) => r.p99Ms)),
    requests: median(valid.map((r) => r.requests)),
    other: median(runs.map((r) => r.otherCores ?? 0)),
    cpu: median(valid.map((r) => r.cpuUsPerRequest).filter(ok)),
  }
}

// stats[scenario][target] for every pair that has runs.
function allStats(scenarios, targets, runs) {
  const stats = {}
  for (const s of scenarios) {
    stats[s] = {}
    for (const t of targets) {
      const mine = runs.filter((r) => r.scenario === s && r.target === t.name)
      if (mine.length) stats[s][t.name] = statsOf(mine)
    }
  }
  return stats
}

function table(stats, memory) {
  const rows = [
    '| scenario | target | req/s | × baseline | spread | CPU µs/req | CPU × baseline | p50 ms | ' +
      'p99 ms | RSS MiB | valid | other load |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const [scenario, byTarget] of Object.entries(stats)) {
    const base = byTarget.baseline?.rps
    const baseCpu = byTarget.baseline?.cpu
    for (const [name, s] of Object.entries(byTarget)) {
      const spread = ok(s.spread) ? `${(s.spread * 100).toFixed(0)} %` : ''
      const rss = fmtMiB(memory[scenario]?.[name]?.rssKiB)
      const cells = [scenario, name, fmtInt(s.rps), fmtRatio(s.rps / base), spread]
      cells.push(ok(s.cpu) ? s.cpu.toFixed(1) : 'n/a', fmtRatio(baseCpu / s.cpu))
      cells.push(fmtMs(s.p50), fmtMs(s.p99), rss, `${s.valid}/${s.total}`, s.other.toFixed(2))
      rows.push(`| ${cells.join(' | ')} |`)
    }
  }
  return rows
}

function ratioLines(stats) {
  const byTarget = {}
  for (const [scenario, s] of Object.entries(stats)) {
    for (const [name, t] of Object.entries(s)) {
      if (name === 'baseline') continue
      const rps = fmtRatio(t.rps / s.baseline?.rps)
      const cpu = fmtRatio(s.baseline?.cpu / t.cpu)
      ;(byTarget[name] ??= []).push(`${scenario} ${rps} (CPU ${cpu})`)
    }
  }
  return Object.entries(byTarget).map(
    ([name, parts]) => `- ${name} / baseline, req/s (CPU per request): ${parts.join(' · ')}`,
  )
}

function peakLine(targets, memory) {
  const peak = (name) => Math.max(0, ...Object.values(memory).map((m) => m[name]?.hwmKiB ?? 0))
  const parts = targets.map((t) => `${t.name} ${fmtMiB(peak(t.name))}`)
  return `- peak RSS (VmHWM, MiB): ${parts.join(' · ')}`
}

// How cold "cold" was: after one pass over the tokens (the warm-up is one), any result cache
// holding N entries answers from memory.
function coldLines(stats, coldTokens) {
  const lines = []
  for (const [scenario, byTarget] of Object.entries(stats)) {
    if (!scenario.startsWith('cold-')) continue
    const passes = Object.entries(byTarget)
      .filter(([name, s]) => name !== 'baseline' && s.valid)
      .map(([name, s]) => `${name} ${(s.requests / coldTokens).toFixed(1)}`)
    if (passes.length) {
      lines.push(
        `- ${scenario}, passes over the ${coldTokens} tokens per run: ${passes.join(' · ')}`,
      )
    }
  }
  return lines
}

// Other load is what the bench did not start, in cores: above a quarter core, a run lost a
// noticeable share of a 2-core machine to someone else.
function noiseLines(runs) {
  const other = runs.map((r) => r.otherCores ?? 0)
  if (!other.length) return []
  const noisy = other.filter((x) => x > 0.25).length
  const range = `median ${median(other).toFixed(2)}, max ${Math.max(...other).toFixed(2)}`
  const note = noisy ? `; ${noisy} of ${other.length} runs above 0.25: read ratios loosely` : ''
  return [`- other load (cores used by processes the bench did not start): ${range}${note}`]
}

function invalidLines(runs) {
  const invalid = runs.filter((r) => !r.valid)
  if (!invalid.length) return []
  return [
    '',
    '**Invalid runs** (left out of the medians):',
    '',
    ...invalid.map(
      (r) =>
        `- ${r.scenario} ${r.target} rep ${r.rep + 1}: ${r.requests} requests, ` +
        `${r.non200} not 200, ${r.socketErrors} socket errors`,
    ),
  ]
}

function failureLines({ failures, warnings }) {
  const lines = []
  if (warnings.length) lines.push('', '**Warnings**', '', ...warnings.map((w) => `- ${w}`))
  if (failures.length) {
    lines.push('', '**Failed targets** (not measured, or not to the end):', '')
    for (const f of failures) lines.push(`- ${f.target}:`, ...f.problems.map(indent))
  }
  return lines
}

function indent(text) {
  return text
    .split('\n')
    .map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`))
    .join('\n')
}

// runs: [{ scenario, target, rep, rps, p50Ms, p99Ms, requests, valid, non200, socketErrors }]
// memory: { [scenario]: { [target]: { rssKiB, hwmKiB } } }
export function summarize(r) {
  const { scenarios, targets, runs, memory, checks, failures, warnings, coldTokens } = r
  const checkLines = checks.map((line) => `- checks passed, ${line}`)
  if (!runs.length) {
    return { markdown: [...checkLines, ...failureLines({ failures, warnings })].join('\n').trim() }
  }
  const stats = allStats(scenarios, targets, runs)
  const lines = [
    ...table(stats, memory),
    '',
    ...ratioLines(stats),
    peakLine(targets, memory),
    ...coldLines(stats, coldTokens),
    ...noiseLines(runs),
    ...checkLines,
    ...invalidLines(runs),
    ...failureLines({ failures, warnings }),
    '',
    'CPU µs/req: CPU time of the target process per answer, median over the valid runs; CPU ×',
    'baseline = baseline CPU per answer ÷ the target\'s (1.00: costs no more than the bare handler).',
    'req/s, p50, p99: medians over the valid runs; × baseline = req/s of the target ÷ req/s of',
    'the bare hono handler in the same scenario; spread = (max − min) ÷ median req/s; RSS after',
    'the scenario; other load = median CPU (cores) used by processes the bench did not start.',
  ]
  return { markdown: lines.join('\n'), stats }
}
