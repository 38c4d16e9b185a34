/**
 * Failover time of a real replica group, printed as JSON: three agents at the default replication
 * settings, the kv guest with 3 replicas, a client writing continuously through the two agents that
 * will survive. The primary's process is killed (SIGKILL) at T0; T1 is when the first request sent
 * after T0 (so taken by the new primary) is acknowledged, seen by the client. Beside the client's
 * figure, the new primary's promotion event gives its parts: detection (last word from the old
 * primary to the election starting), election, promotion (replaying the committed tail, going live).
 * The killed agent is restarted and caught up between runs; every write acknowledged in any run
 * must still be in the store at the end.
 *
 *   npx node bench/failover.ts [--runs 5]
 */
import { buildGuest } from '../scripts/build-guests.ts'
import type { ControlClient, ControlEventBody, WorkloadSummary } from '../src/agent/control/index.ts'
import { KvClient } from '../src/demo/kv-client.ts'
import type { AgentHandle, Cluster } from '../src/demo/local-mesh.ts'
import {
  numberFlag,
  round,
  runKv,
  sleep,
  summarize,
  TIMING,
  waitFor,
  wallNow,
  withCluster,
} from './group-harness.ts'
import { type Ack, KvWriter, ReleasedLines } from './group-writer.ts'

type Promotion = Extract<ControlEventBody, { type: 'promotion' }> & { time: number }

interface RunFigures {
  killToFirstServedMs: number
  /** Kill to the promotion event (agent clock: same machine). */
  killToPromotedMs: number
  /** Promotion event to the client's first acknowledgement. */
  servedAfterPromotionMs: number
  detectionMs: number | null
  electionMs: number | null
  promotionMs: number | null
  /** Detection + election + promotion, as the agent reports it. */
  tookMs: number
  epoch: number
  newPrimarySite: string
  /** Restart of the killed agent to its replica being a caught-up shadow again. */
  rejoinMs: number
}

const WORKLOAD = 'failover'
const runs = numberFlag('--runs', 5)
const image = await buildGuest('kv')

const result = await withCluster(3, async (cluster, signal) => {
  let group = await runKv(cluster.agents[0]!.client, image, WORKLOAD, 3, signal)
  const acked: Ack[] = []
  const perRun: RunFigures[] = []
  for (let run = 0; run < runs; run++) {
    const { figures, after } = await failOnce(cluster, group, run, acked, signal)
    perRun.push(figures)
    group = after
  }
  const keys = new Set(await new KvClient([cluster.agents[0]!.client], WORKLOAD).keys())
  const lost = acked.filter((a) => !keys.has(a.key)).length
  return { perRun, acked: acked.length, lost }
})

const pick = (f: (r: RunFigures) => number | null) =>
  result.perRun.map(f).filter((x): x is number => x !== null)
const summaryOf = (f: (r: RunFigures) => number | null) => {
  const s = summarize(pick(f))
  return s && { median: s.median, p90: s.p90 }
}
const served = summaryOf((r) => r.killToFirstServedMs)!
console.log(
  JSON.stringify({
    bench: 'failover',
    node: process.version,
    runs,
    replication: TIMING,
    note:
      'ms. killToFirstServed: SIGKILL of the primary process to the acknowledgement (released reply seen by the client) of the first request sent after the kill. ' +
      'detection/election/promotion: from the new primary promotion event (detection counts from the last message of the old primary, which may precede the kill by up to a heartbeat; ' +
      'a shadow starts an election after the election timeout randomized between 1x and 2x). servedAfterPromotion: the client side (its stdin call waits at the agent while no primary is known, the agent polls every 100 ms). ' +
      'Median and p90 are of the runs.',
    killToFirstServedMs: served,
    killToPromotedMs: summaryOf((r) => r.killToPromotedMs),
    servedAfterPromotionMs: summaryOf((r) => r.servedAfterPromotionMs),
    detectionMs: summaryOf((r) => r.detectionMs),
    electionMs: summaryOf((r) => r.electionMs),
    promotionMs: summaryOf((r) => r.promotionMs),
    rejoinMs: summaryOf((r) => r.rejoinMs),
    ratioKillToFirstServedToElectionTimeout: {
      median: round(served.median / TIMING.electionTimeoutMs, 3),
      p90: round(served.p90 / TIMING.electionTimeoutMs, 3),
    },
    acknowledgedWrites: result.acked,
    lostAcknowledgedWrites: result.lost,
    perRun: result.perRun,
  }),
)

/** One kill of the primary, measured; then the killed agent restarted and caught up. */
async function failOnce(
  cluster: Cluster,
  before: WorkloadSummary,
  run: number,
  acked: Ack[],
  signal: AbortSignal,
): Promise<{ figures: RunFigures; after: WorkloadSummary }> {
  const victim = cluster.agent(before.primary!)
  const survivors = cluster.agents.filter((a) => a !== victim)
  const stop = new AbortController()
  const streams = AbortSignal.any([signal, stop.signal])
  try {
    const promotions = survivors.map((a) => watchPromotions(a.client, streams))
    const followers = survivors.map((a) => new ReleasedLines(a.client, WORKLOAD, a.site, streams))
    await Promise.all([...promotions.map((p) => p.connected), ...followers.map((f) => f.ready)])
    const writer = new KvWriter({
      workload: WORKLOAD,
      clients: survivors.map((a) => a.client),
      followers,
      // Two heartbeats: a request lost with the old primary is sent again soon.
      retryAfterMs: 2 * TIMING.heartbeatMs,
      signal: streams,
    })
    const mine: Ack[] = []
    let writing = true
    const loop = (async () => {
      for (let i = 0; writing; i++) mine.push(await writer.set(`r${run}-${i}`, `r${run}-${i}-${wallNow()}`))
    })()
    loop.catch(() => {})

    await waitFor('the client to warm up', async () => (mine.length >= 20 ? true : undefined), { signal })
    // Kill at a random moment between requests and heartbeats.
    await sleep(Math.random() * TIMING.heartbeatMs, signal)
    const t0 = wallNow()
    cluster.kill(victim, 'SIGKILL')
    const first = await waitFor(
      'a request sent after the kill to be acknowledged',
      async () => mine.find((a) => a.lastSentAt >= t0),
      { signal, timeoutMs: 60_000 },
    )
    const promoted = await waitFor(
      'the new primary to report its promotion',
      async () => promotions.flatMap((p) => p.seen).find((e) => e.epoch > before.epoch),
      { signal, timeoutMs: 10_000 },
    )
    writing = false
    await loop
    writer.close()
    acked.push(...mine)
    stop.abort()

    const restartedAt = wallNow()
    const back = await cluster.restart(victim)
    const after = await caughtUp(back, signal)
    return {
      figures: {
        killToFirstServedMs: round(first.ackAt - t0),
        killToPromotedMs: round(promoted.time - t0),
        servedAfterPromotionMs: round(first.ackAt - promoted.time),
        detectionMs: promoted.detectionMs ?? null,
        electionMs: promoted.electionMs ?? null,
        promotionMs: promoted.promotionMs ?? null,
        tookMs: promoted.tookMs,
        epoch: promoted.epoch,
        newPrimarySite: cluster.agent(promoted.peerId).site,
        rejoinMs: round(wallNow() - restartedAt),
      },
      after,
    }
  } finally {
    stop.abort()
  }
}

/** Promotion events of the workload seen by one agent, from when `connected` resolves. */
function watchPromotions(client: ControlClient, signal: AbortSignal) {
  const seen: Promotion[] = []
  const { promise: connected, resolve } = Promise.withResolvers<void>()
  void (async () => {
    try {
      for await (const item of client.events({ signal })) {
        if (item.type === 'state' && item.state === 'connected') resolve()
        if (item.type === 'event' && item.event.type === 'promotion' && item.event.workload === WORKLOAD) {
          seen.push(item.event)
        }
      }
    } catch {
      // Ends with the run (abort).
    }
  })()
  return { connected, seen }
}

/** Until the restarted agent's replica is a shadow that applied everything committed, and all are reachable. */
function caughtUp(back: AgentHandle, signal: AbortSignal): Promise<WorkloadSummary> {
  return waitFor(
    'the restarted agent to catch up',
    async () => {
      const w = (await back.client.workloads()).find((x) => x.name === WORKLOAD)
      const me = w?.replicas.find((r) => r.peerId === back.peerId)
      return w?.state === 'running' &&
        w.replicas.every((r) => r.reachable) &&
        me?.role === 'shadow' &&
        me.appliedSeq >= w.committedSeq - 1
        ? w
        : undefined
    },
    { signal, timeoutMs: 120_000 },
  )
}
