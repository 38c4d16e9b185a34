/**
 * understudy's Prometheus metrics, declared once on a registry of their own (never
 * prom-client's global one, so two agents in one process, or a test, do not mix counts).
 * Units follow Prometheus conventions: seconds, and `_total` on counters.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { STORE_FORMAT_VERSION, WIRE_VERSIONS } from '../config/versions.ts'

export interface UnderstudyMetrics {
  registry: Registry
  /** Entries a primary appended to a workload's log. */
  entriesAppended: Counter<'workload'>
  /** Entries that became committed (stored by a majority). */
  entriesCommitted: Counter<'workload'>
  /** From append on the primary to commit, seconds. */
  commitLatency: Histogram<'workload'>
  /** How many committed entries a shadow has not stored yet, per member (peer id), as the primary sees it. */
  shadowLagEntries: Gauge<'workload' | 'member'>
  /** Age of the oldest committed entry the shadow has not stored, seconds (0 when caught up). */
  shadowLagSeconds: Gauge<'workload' | 'member'>
  /** Elections this agent started, by outcome: 'won', 'lost' (another won or a newer epoch appeared), 'prevote-failed'. */
  elections: Counter<'workload' | 'outcome'>
  /** Times a workload's primary role moved to another member (failure or drill). */
  failovers: Counter<'workload'>
  /**
   * Failover time, seconds, by phase: 'detection' (last word from the old primary to the
   * election starting), 'election', 'promotion' (replaying the tail to going live) and 'total'.
   */
  failoverDuration: Histogram<'workload' | 'phase'>
  /** Requests refused by a policy (host or data policy), by the reason's short code. */
  policyRefusals: Counter<'reason'>
}

export interface CreateMetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC, handles); default true. */
  defaultMetrics?: boolean
  /** The understudy version, for `understudy_build_info`. */
  version?: string
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
const FAILOVER_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120]

/** A new registry holding understudy's metrics (and, by default, Node's process metrics). */
export function createMetrics(options: CreateMetricsOptions = {}): UnderstudyMetrics {
  const registry = new Registry()
  const registers = [registry]
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry })

  const buildInfo = new Gauge({
    name: 'understudy_build_info',
    help: 'Always 1; the labels name the version and the store and wire formats this agent reads and writes.',
    labelNames: ['version', 'store_format', 'log_wire', 'log_frame'],
    registers,
  })
  buildInfo.set(
    {
      version: options.version ?? 'unknown',
      store_format: String(STORE_FORMAT_VERSION),
      log_wire: String(WIRE_VERSIONS.logStream),
      log_frame: String(WIRE_VERSIONS.logFrame),
    },
    1,
  )

  return {
    registry,
    entriesAppended: new Counter({
      name: 'understudy_entries_appended_total',
      help: 'Log entries appended by the primary.',
      labelNames: ['workload'],
      registers,
    }),
    entriesCommitted: new Counter({
      name: 'understudy_entries_committed_total',
      help: 'Log entries committed (stored durably by a majority of the group).',
      labelNames: ['workload'],
      registers,
    }),
    commitLatency: new Histogram({
      name: 'understudy_commit_latency_seconds',
      help: 'Time from appending an entry on the primary to its commit.',
      labelNames: ['workload'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    shadowLagEntries: new Gauge({
      name: 'understudy_shadow_lag_entries',
      help: 'Committed entries a shadow has not stored yet.',
      labelNames: ['workload', 'member'],
      registers,
    }),
    shadowLagSeconds: new Gauge({
      name: 'understudy_shadow_lag_seconds',
      help: 'Age of the oldest committed entry a shadow has not stored yet (0 when caught up).',
      labelNames: ['workload', 'member'],
      registers,
    }),
    elections: new Counter({
      name: 'understudy_elections_total',
      help: 'Elections started by this agent, by outcome.',
      labelNames: ['workload', 'outcome'],
      registers,
    }),
    failovers: new Counter({
      name: 'understudy_failovers_total',
      help: "Times a workload's primary role moved to another member.",
      labelNames: ['workload'],
      registers,
    }),
    failoverDuration: new Histogram({
      name: 'understudy_failover_duration_seconds',
      help: 'Failover time by phase: detection, election, promotion, total.',
      labelNames: ['workload', 'phase'],
      buckets: FAILOVER_BUCKETS,
      registers,
    }),
    policyRefusals: new Counter({
      name: 'understudy_policy_refusals_total',
      help: 'Requests refused by a host or data policy, by reason.',
      labelNames: ['reason'],
      registers,
    }),
  }
}
