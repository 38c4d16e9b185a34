/**
 * Shared by the replica-group benchmarks (failover, output-commit, shadow-lag): a local cluster of
 * real agents at the DEFAULT replication settings, closed on every way out (also SIGINT/SIGTERM), a
 * kv workload run and waited for, and the figures' arithmetic. Not a benchmark itself (run-all skips it).
 */

import { DEFAULTS } from '../src/agent/config/index.ts'
import type { ControlClient, WorkloadSummary } from '../src/agent/control/index.ts'
import { Cluster } from '../src/demo/local-mesh.ts'

/** What every agent of a benchmark cluster runs with: the shipped defaults, so the figures are the product's. */
export const TIMING = {
  heartbeatMs: DEFAULTS.replication.heartbeatMs,
  electionTimeoutMs: DEFAULTS.replication.electionTimeoutMs,
  checkpointEveryEntries: DEFAULTS.replication.checkpointEveryEntries,
} as const

/**
 * Runs `fn` with a started cluster of `size` agents and always closes it: on return, on a throw and on
 * SIGINT/SIGTERM (then the process exits 130 once the agents are gone). `signal` aborts on those signals.
 */
export async function withCluster<T>(
  size: number,
  fn: (cluster: Cluster, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController()
  // Agents log at warn: their output is kept in memory for failure messages, and a loaded run is long.
  const starting = Cluster.start({ size, ...TIMING, logLevel: 'warn' })
  let interrupted: Promise<void> | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    controller.abort(new Error(`interrupted by ${signal}`))
    interrupted ??= starting.then((cluster) => cluster.close()).catch(() => {})
    void interrupted.finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  let cluster: Cluster | undefined
  try {
    cluster = await starting
    return await fn(cluster, controller.signal)
  } catch (err) {
    // Interrupted: what failed is only the work the signal cut short; exit once the agents are gone.
    if (interrupted) {
      await interrupted
      process.exit(130)
    }
    if (cluster) process.stderr.write(`${cluster.dump()}\n`)
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await cluster?.close()
  }
}

/** Runs the kv guest as `name` with `replicas` replicas through `client`'s agent; resolves once it serves. */
export async function runKv(
  client: ControlClient,
  image: string,
  name: string,
  replicas: number,
  signal: AbortSignal,
): Promise<WorkloadSummary> {
  await client.run({ name, image, replicas, args: ['/data'] }, { timeoutMs: 60_000 })
  return waitFor(
    `${name} to run with ${replicas} live replicas`,
    async () => {
      const w = (await client.workloads()).find((x) => x.name === name)
      return w?.state === 'running' && w.replicas.every((r) => r.reachable) ? w : undefined
    },
    { signal },
  )
}

/** Polls `probe` every 100 ms until it gives a value; errors count as "not yet" until the deadline. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000)
  let last: unknown
  for (;;) {
    options.signal?.throwIfAborted()
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    }
    await sleep(100)
  }
}

export interface Summary {
  n: number
  median: number
  p90: number
  p99: number
  max: number
}

/** Median, p90, p99 (nearest rank) and max, rounded to `digits`; undefined for no values. */
export function summarize(values: readonly number[], digits = 2): Summary | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const rank = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!
  return {
    n: sorted.length,
    median: round(rank(0.5), digits),
    p90: round(rank(0.9), digits),
    p99: round(rank(0.99), digits),
    max: round(sorted[sorted.length - 1]!, digits),
  }
}

export function round(x: number, digits = 2): number {
  return Number(x.toFixed(digits))
}

/** `--flag N` from the command line, or `fallback`. */
export function numberFlag(flag: string, fallback: number): number {
  const i = process.argv.indexOf(flag)
  if (i < 0) return fallback
  const value = Number(process.argv[i + 1])
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${flag} needs a positive number`)
  return value
}

/** Wall-clock ms with sub-ms precision, comparable with the agents' Date.now() event times. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now()
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
