import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** The gate's Prometheus metrics, on a registry of its own (never prom-client's global). */
export interface Metrics {
  readonly registry: Registry
  readonly decisions: Counter<'endpoint' | 'code'>
  readonly duration: Histogram<'endpoint'>
  readonly verifyCache: Counter<'result'>
  readonly jwksFetches: Counter<'issuer' | 'outcome'>
}

/**
 * Registers every metric. Label values stay bounded: endpoints and error codes are fixed sets,
 * issuers come from the configuration; a subject or a raw path never becomes a label.
 */
export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'jwtgate_' })

  return {
    registry,
    decisions: new Counter({
      name: 'jwtgate_decisions_total',
      help: 'Auth decisions by endpoint and outcome code (OK for an allow).',
      labelNames: ['endpoint', 'code'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'jwtgate_decision_duration_seconds',
      help: 'Time from request to auth decision, in seconds.',
      labelNames: ['endpoint'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
    verifyCache: new Counter({
      name: 'jwtgate_verify_cache_total',
      help: 'Verification cache lookups: hit, miss, or shared (joined a verification in flight).',
      labelNames: ['result'],
      registers: [registry],
    }),
    jwksFetches: new Counter({
      name: 'jwtgate_jwks_fetches_total',
      help: 'JWKS fetches by issuer and outcome (ok, error, unchanged).',
      labelNames: ['issuer', 'outcome'],
      registers: [registry],
    }),
  }
}

/** Adds a gauge whose value is read at scrape time, so the hot path never updates it. */
export function addGauge(
  metrics: Metrics,
  name: string,
  help: string,
  labelNames: string[],
  read: (set: (labels: Record<string, string>, value: number) => void) => void,
): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [metrics.registry],
    collect() {
      read((labels, value) => this.set(labels, value))
    },
  })
}
