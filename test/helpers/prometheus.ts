/** PromQL words that look like identifiers but name no metric. */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
])

/** Clauses whose parenthesised list holds label names, not metrics. */
const LABEL_LISTS = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g

/**
 * The metric names a PromQL expression selects, in order of first use. Strings, label matchers
 * (`{...}`), range and subquery brackets (`[...]`), label lists (`by (...)`) and Grafana
 * variables (`$__rate_interval`, `${datasource}`) are removed first; of what remains, an
 * identifier followed by `(` is a function or aggregation, and a keyword is a keyword.
 */
export function metricsInPromQL(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(LABEL_LISTS, ' ')

  const names: string[] = []
  // The lookbehind keeps "5m" or "1e3" from yielding "m" or "e3".
  for (const match of stripped.matchAll(/(?<![\w.:])[a-zA-Z_:][\w:]*(?![\w:]|\s*\()/g)) {
    const name = match[0]
    if (!KEYWORDS.has(name.toLowerCase()) && !names.includes(name)) names.push(name)
  }
  return names
}

/**
 * The metric names a Grafana template-variable query selects: `label_values(metric, label)`,
 * `query_result(expr)`, or `metrics(regex)` (which names none).
 */
export function metricsInVariableQuery(query: string): string[] {
  const labelValues = /^\s*label_values\((.*),\s*[\w]+\s*\)\s*$/.exec(query)
  if (labelValues) return metricsInPromQL(labelValues[1] as string)
  const result = /^\s*query_result\((.*)\)\s*$/.exec(query)
  if (result) return metricsInPromQL(result[1] as string)
  if (/^\s*(?:label_names|metrics)\(/.test(query)) return []
  return metricsInPromQL(query)
}

/** Metric families of a Prometheus text exposition: name to type (`counter`, `histogram`...). */
export function parseExposition(text: string): Map<string, string> {
  const families = new Map<string, string>()
  for (const line of text.split('\n')) {
    const typed = /^# TYPE ([a-zA-Z_:][\w:]*) (\w+)$/.exec(line)
    if (typed) families.set(typed[1] as string, typed[2] as string)
  }
  return families
}

/** Series a histogram family exposes beside its own name; a summary has the last two. */
const SERIES_SUFFIXES: Record<string, string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
}

/**
 * Whether `name` is a series of the exposition: a family itself, or a `_bucket`, `_sum` or
 * `_count` series of a histogram (only `_sum`/`_count` of a summary). A suffix counts only
 * when the family it leads to has a type that exposes it: `foo_count` of a gauge `foo` does not.
 */
export function isExposed(name: string, families: Map<string, string>): boolean {
  if (families.has(name)) return true
  for (const [type, suffixes] of Object.entries(SERIES_SUFFIXES)) {
    for (const suffix of suffixes) {
      if (name.endsWith(suffix) && families.get(name.slice(0, -suffix.length)) === type) return true
    }
  }
  return false
}
