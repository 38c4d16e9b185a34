/**
 * How far shadows trail their primary under load, printed as JSON: three agents at the default
 * replication settings, the kv guest with 3 replicas, clients writing as fast as they can for D
 * seconds (each client one request at a time, several clients at once). Per shadow:
 *
 *   lag in entries  the control API's lagEntries (primary's last seq - shadow's applied seq), sampled
 *                   from `workloads()` every 100 ms
 *   lag in ms       per acknowledged write: when its reply appeared in the shadow's released output
 *                   (a shadow releases output as it replays committed entries) minus when it appeared
 *                   in the primary's (the acknowledgement); both read through pushed log streams by
 *                   this process, so the stream delivery cancels out. The API's lagMs is null today.
 *
 * The same lag in ms is measured first for a light load (one client, a pause between writes) as the
 * baseline of this run; the figures are also given relative to the request latency.
 *
 *   npx node bench/shadow-lag.ts [--seconds 10] [--clients 4]
 */
import { buildGuest } from '../scripts/build-guests.ts'
import type { ControlClient } from '../src/agent/control/index.ts'
import type { AgentHandle } from '../src/demo/local-mesh.ts'
import { numberFlag, round, runKv, sleep, summarize, TIMING, waitFor, withCluster } from './group-harness.ts'
import { type Ack, KvWriter, ReleasedLines } from './group-writer.ts'

const WORKLOAD = 'lag'
const seconds = numberFlag('--seconds', 10)
const clients = numberFlag('--clients', 4)
const LIGHT_WRITES = 30
const image = await buildGuest('kv')

/** When each reply line appeared in one shadow's released output. */
class Sightings {
  readonly lines: ReleasedLines
  readonly at = new Map<string, number>()

  constructor(lines: ReleasedLines) {
    this.lines = lines
    lines.onLine((line, at) => {
      if (!this.at.has(line)) this.at.set(line, at)
    })
  }

  /** ms from each write's acknowledgement to its reply here. */
  lagOf(acks: readonly Ack[]): number[] {
    return acks.map((a) => this.at.get(a.value)! - a.ackAt)
  }
}

const result = await withCluster(3, async (cluster, signal) => {
  const group = await runKv(cluster.agents[0]!.client, image, WORKLOAD, 3, signal)
  const primary = cluster.agent(group.primary!)
  const shadows = cluster.agents.filter((a) => a !== primary)
  const stop = new AbortController()
  const streams = AbortSignal.any([signal, stop.signal])
  try {
    const acks = new ReleasedLines(primary.client, WORKLOAD, primary.site, streams)
    const sightings = shadows.map(
      (s) => new Sightings(new ReleasedLines(s.client, WORKLOAD, s.site, streams)),
    )
    await Promise.all([acks.ready, ...sightings.map((s) => s.lines.ready)])
    const writer = new KvWriter({
      workload: WORKLOAD,
      clients: [primary.client],
      followers: [acks],
      retryAfterMs: 30_000,
      signal: streams,
    })

    // Baseline: a light load, each write alone in the group.
    const light: Ack[] = []
    for (let i = 0; i < LIGHT_WRITES; i++) {
      light.push(await writer.set(`light${i}`, `light-${i}`))
      await sleep(2 * TIMING.heartbeatMs, signal)
    }

    // Load: `clients` writers as fast as they go, and the sampler beside them.
    const before = await summaryOf(primary.client)
    const samples: { site: string; lagEntries: number }[] = []
    const loaded: Ack[] = []
    const started = performance.now()
    const until = started + seconds * 1000
    const sampler = (async () => {
      while (performance.now() < until) {
        const t = performance.now()
        const w = await summaryOf(primary.client)
        for (const r of w.replicas) {
          if (r.peerId !== primary.peerId && r.lagEntries !== null)
            samples.push({ site: r.site, lagEntries: r.lagEntries })
        }
        await sleep(Math.max(0, 100 - (performance.now() - t)), signal)
      }
    })()
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = 0; performance.now() < until; i++)
          loaded.push(await writer.set(`c${c}-${i}`, `load-${c}-${i}`))
      }),
    )
    const elapsedS = (performance.now() - started) / 1000
    await sampler
    const after = await summaryOf(primary.client)
    writer.close()

    // Every shadow shows every acknowledged write before the figures are taken.
    await waitFor(
      'the shadows to release every acknowledged write',
      async () =>
        sightings.every((s) => [...light, ...loaded].every((a) => s.at.has(a.value))) ? true : undefined,
      { signal, timeoutMs: 60_000 },
    )
    return {
      shadows: shadows.map((s: AgentHandle, i) => ({
        site: s.site,
        lightLagMs: sightings[i]!.lagOf(light),
        loadLagMs: sightings[i]!.lagOf(loaded),
        lagEntries: samples.filter((x) => x.site === s.site).map((x) => x.lagEntries),
      })),
      light,
      loaded,
      elapsedS,
      entries: after.committedSeq - before.committedSeq,
      samples: samples.length,
    }
  } finally {
    stop.abort()
  }
})

const requestMs = summarize(result.loaded.map((a) => a.latencyMs))!
const lightRequestMs = summarize(result.light.map((a) => a.latencyMs))!
console.log(
  JSON.stringify({
    bench: 'shadow-lag',
    node: process.version,
    seconds,
    clients,
    replication: TIMING,
    note:
      'lagMs per write: its reply in the shadow released output minus in the primary (the acknowledgement). lagEntries: lastSeq of the primary - appliedSeq of the shadow, sampled every 100 ms from workloads() on the primary agent (it counts entries the primary appended but not yet committed, and the members answer at slightly different moments). ' +
      'light: one client, one write at a time with two heartbeats between (a shadow may learn of a commit only with the next message, up to a heartbeat later). ' +
      'Ratios: loaded lag median / light lag median, and lag median / request latency median under load.',
    throughput: {
      ackedWritesPerS: round(result.loaded.length / result.elapsedS, 1),
      entriesPerS: round(result.entries / result.elapsedS, 1),
      entriesPerWrite: round(result.entries / result.loaded.length, 2),
      requestMs,
    },
    light: { writes: result.light.length, requestMs: lightRequestMs },
    shadows: result.shadows.map((s) => {
      const load = summarize(s.loadLagMs)!
      const idle = summarize(s.lightLagMs)!
      const entries = summarize(s.lagEntries, 0)
      return {
        site: s.site,
        lagMs: { median: load.median, p90: load.p90, max: load.max },
        lagEntries: entries && {
          median: entries.median,
          p90: entries.p90,
          max: entries.max,
          samples: entries.n,
        },
        lightLagMs: { median: idle.median, p90: idle.p90, max: idle.max },
        ratioLagToLightLag: round(load.median / idle.median, 3),
        ratioLagToRequestLatency: round(load.median / requestMs.median, 3),
      }
    }),
    samples: result.samples,
  }),
)

async function summaryOf(client: ControlClient) {
  const w = (await client.workloads()).find((x) => x.name === WORKLOAD)
  if (!w) throw new Error(`${WORKLOAD} is gone`)
  return w
}
