/**
 * The steps of `understudy demo`, narrated for someone who has never seen understudy: what happens, and
 * why it matters. Every figure shown is read back from the agents (their control API and events), and
 * each step records its part of the summary as soon as it has it, so a failure still reports the rest.
 */
import type { ReplicaInfo, WorkloadSummary } from '../control/index.ts'
import { DemoError } from './demo-error.ts'
import { columns, median, ms, shortId } from './format.ts'
import type { DemoSummary } from './index.ts'
import { KvClient, type WriteResult } from './kv-client.ts'
import { kvGuestPath } from './kv-guest.ts'
import { type AgentHandle, Cluster } from './local-mesh.ts'
import { watchPromotion } from './promotion-watch.ts'
import { waitFor } from './wait-for.ts'

/** What the conductor (run-demo.ts) and the steps share; the conductor cleans up whatever is in it. */
export interface DemoRun {
  write: (line: string) => void
  signal: AbortSignal
  /** Everything the agents write goes under here. */
  tempDir: string
  /** The step under way, for the error message. */
  step: string
  summary: Omit<DemoSummary, 'ok' | 'error' | 'durationMs' | 'cleanup'>
  cluster: Cluster | undefined
  /** Every agent process started so far. */
  pids: number[]
}

const WORKLOAD = 'kv'
const REPLICAS = 3
const WRITES = 20
const WRITES_AFTER_FAILOVER = 5
/** Acks printed one per line; the rest are summed up. */
const SHOWN_ACKS = 3
/** Generous: a shared, noisy 2-core machine must still get through. */
const STEP_MS = 30_000
const CATCH_UP_MS = 60_000
const ROLE_COLUMNS = [9, 9, 11, 9]

export async function play(run: DemoRun): Promise<void> {
  const { write, signal } = run
  const wait = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = STEP_MS) =>
    waitFor(what, probe, { signal, timeoutMs })
  const workloadOn = async (agent: AgentHandle): Promise<WorkloadSummary | undefined> =>
    (await agent.client.workloads({ signal })).find((w) => w.name === WORKLOAD)

  write('understudy demo: a key-value service that keeps running when its machine dies.')
  write('Everything runs on this machine (127.0.0.1) and is removed at the end.')
  write('')

  run.step = 'preparing the kv guest'
  const image = await kvGuestPath()
  signal.throwIfAborted()

  // 1. Agents.
  run.step = 'starting the agents'
  write(`1. Starting ${REPLICAS} agents. Each is its own \`understudy agent\` process with its own data`)
  write('   directory and site, as if on three desktops in three different rooms:')
  const cluster = await Cluster.start({
    size: REPLICAS,
    parentDir: run.tempDir,
    signal,
    // Frequent checkpoint marks, so the shadows' state digests are compared within the demo's few writes.
    checkpointEveryEntries: 20,
  })
  run.cluster = cluster
  for (const a of cluster.agents) run.pids.push(pidOf(a))
  run.summary.agents = cluster.agents.map((a) => ({
    name: nameOf(a),
    site: a.site,
    peerId: a.peerId,
    pid: pidOf(a),
  }))
  for (const a of cluster.agents) {
    write(`   ${columns([nameOf(a), a.site, `peer ${shortId(a.peerId)}`, `pid ${pidOf(a)}`], [9, 8, 22])}`)
  }
  write('   They found each other over a libp2p mesh: each lists all three.')
  write('')

  // 2. The replicated guest.
  run.step = 'starting the replicated kv guest'
  const first = cluster.agents[0] as AgentHandle
  write(`2. Asking ${nameOf(first)} to run the kv guest (a key-value store compiled to WebAssembly)`)
  write(
    `   with ${REPLICAS} replicas. Placement puts them in distinct sites, so one failure costs one replica:`,
  )
  // Placing asks every host to prepare the module, which takes a while on a busy machine.
  const placing = { signal, timeoutMs: CATCH_UP_MS }
  await first.client.run({ name: WORKLOAD, image, replicas: REPLICAS, args: ['/data'] }, placing)
  let w = await wait('the kv guest to run on all three replicas', async () => {
    const x = await workloadOn(first)
    return x?.primary !== undefined && x.state === 'running' ? x : undefined
  })
  run.summary.workload = {
    name: WORKLOAD,
    image,
    replicas: primaryFirst(w).map((r) => ({ site: r.site, peerId: r.peerId, role: r.role })),
    primary: w.primary as string,
    epoch: w.epoch,
  }
  for (const r of primaryFirst(w)) {
    write(
      `   ${columns([r.role, r.site, nameOf(cluster.agent(r.peerId)), `peer ${shortId(r.peerId)}`], [9, 8, 9])}`,
    )
  }
  write('   The primary runs the guest live and logs every nondeterministic input (clock, random,')
  write('   stdin); the shadows receive that log and replay it, a few entries behind.')
  write('')

  // 3. Acknowledged writes.
  run.step = 'writing through the client'
  write(`3. A client writes ${WRITES} keys. A reply is released only once a majority of the replicas has`)
  write('   stored the log entry behind it: once the client sees it, the write is safe.')
  const acked = new Map<string, string>()
  const kv = new KvClient(
    cluster.agents.map((a) => a.client),
    WORKLOAD,
    { retryAfterMs: 3000, giveUpAfterMs: STEP_MS, signal },
  )
  const results: WriteResult[] = []
  for (let i = 1; i <= WRITES; i++) {
    const r = await kv.set(keyOf(i), `value-${String(i).padStart(2, '0')}`)
    acked.set(r.key, r.value)
    results.push(r)
    if (i <= SHOWN_ACKS) write(`   SET ${r.key} ${r.value}   acknowledged in ${ms(r.latencyMs)}`)
  }
  const latencies = results.map((r) => r.latencyMs)
  const latencyMs = { median: Math.round(median(latencies)), max: Math.round(Math.max(...latencies)) }
  run.summary.writes = { acknowledged: acked.size, beforeKill: acked.size, afterFailover: 0, latencyMs }
  write(`   … ${WRITES} writes acknowledged (median ${ms(latencyMs.median)}, slowest ${ms(latencyMs.max)}).`)
  write('')

  // 4. The shadows caught up.
  run.step = 'waiting for the shadows to catch up'
  w = await wait(
    'the shadows to catch up with digests that agree',
    async () => {
      const x = await workloadOn(first)
      if (x === undefined) return undefined
      const diverged = x.replicas.find((r) => r.digest === 'diverged')
      if (diverged) throw new DemoError(`${diverged.site}'s state differs from the primary's`)
      const shadows = x.replicas.filter((r) => r.role === 'shadow')
      const caughtUp = x.replicas.every((r) => r.reachable && r.appliedSeq >= x.committedSeq - 1)
      return shadows.length === REPLICAS - 1 && caughtUp && shadows.every((r) => r.digest === 'agree')
        ? x
        : undefined
    },
    CATCH_UP_MS,
  )
  run.summary.caughtUp = {
    committedSeq: w.committedSeq,
    shadows: w.replicas
      .filter((r) => r.role === 'shadow')
      .map((r) => ({ site: r.site, peerId: r.peerId, appliedSeq: r.appliedSeq, digest: r.digest })),
  }
  write('4. The shadows replay the committed log right behind the primary (as `understudy ps` shows):')
  write(`   ${columns(['role', 'site', 'committed', 'applied', 'digest'], ROLE_COLUMNS)}`)
  for (const r of primaryFirst(w)) {
    const digest = r.role === 'primary' ? '-' : r.digest
    write(`   ${columns([r.role, r.site, r.committedSeq, r.appliedSeq, digest], ROLE_COLUMNS)}`)
  }
  write("   'agree': at the last checkpoint mark, the shadow's state digest equalled the primary's.")
  write('')

  // 5. Kill the primary; a shadow takes over.
  run.step = 'killing the primary'
  const victim = cluster.agent(w.primary as string)
  const victimPid = pidOf(victim)
  const survivors = cluster.agents.filter((a) => a !== victim)
  const watch = watchPromotion(
    survivors.map((a) => a.client),
    WORKLOAD,
    w.epoch,
    signal,
  )
  let failover: NonNullable<DemoRun['summary']['failover']>
  try {
    await wait("the survivors' event streams to connect", async () =>
      watch.connected() === survivors.length ? true : undefined,
    )
    write(
      `5. SIGKILL to the primary's agent, ${nameOf(victim)} (pid ${victimPid}): as if its machine lost power.`,
    )
    cluster.kill(victim, 'SIGKILL')
    await wait(`${nameOf(victim)} to die`, async () =>
      victim.process.exitCode !== null || victim.process.signalCode !== null ? true : undefined,
    )
    run.summary.killed = {
      name: nameOf(victim),
      site: victim.site,
      peerId: victim.peerId,
      pid: victimPid,
      signal: 'SIGKILL',
      epoch: w.epoch,
    }
    write('   It is gone. The shadows stop hearing its heartbeats, and one asks the other for its vote…')
    run.step = 'electing a new primary'
    // The winner is whom the survivors name as primary; its own promotion event carries the figures.
    let turn = 0
    const elected = await wait('a shadow to be elected and promoted', async () => {
      const x = await workloadOn(survivors[turn++ % survivors.length] as AgentHandle)
      if (x?.primary === undefined || x.primary === victim.peerId) return undefined
      if (x.state !== 'running' && x.state !== 'degraded') return undefined
      const event = watch.promotions().find((e) => e.peerId === x.primary && e.epoch === x.epoch)
      return event ? { x, event } : undefined
    })
    const promotion = elected.event
    const winner = cluster.agent(promotion.peerId)
    failover = {
      newPrimary: { name: nameOf(winner), site: winner.site, peerId: winner.peerId },
      epoch: promotion.epoch,
      tookMs: promotion.tookMs,
      detectionMs: promotion.detectionMs,
      electionMs: promotion.electionMs,
      promotionMs: promotion.promotionMs,
    }
    run.summary.failover = failover
  } finally {
    watch.stop()
  }
  write(
    `   ${failover.newPrimary.name} (${failover.newPrimary.site}) won the election for epoch ${failover.epoch}.`,
  )
  write('   It replayed the rest of the committed log and now runs the guest live, with the same state.')
  write(
    `   Failover took ${ms(failover.tookMs)}: ${ms(failover.detectionMs)} to notice the silence, ` +
      `${ms(failover.electionMs)} to win the vote, ${ms(failover.promotionMs)} to go live.`,
  )
  write('')

  // 6. Nothing acknowledged is lost.
  run.step = 'reading back the acknowledged writes'
  const winner = cluster.agent(failover.newPrimary.peerId)
  const others = survivors.filter((a) => a !== winner)
  const kv2 = new KvClient(
    [winner, ...others].map((a) => a.client),
    WORKLOAD,
    { retryAfterMs: 3000, giveUpAfterMs: STEP_MS, signal },
  )
  write(`6. Reading back every acknowledged key through the new primary (KEYS):`)
  const keys = new Set(await kv2.keys())
  const lostKeys = [...acked.keys()].filter((k) => !keys.has(k))
  run.summary.check = {
    keysChecked: acked.size,
    keysFound: acked.size - lostKeys.length,
    lost: lostKeys.length,
    lostKeys,
  }
  write(`   ${acked.size - lostKeys.length} of ${acked.size} keys are there.`)
  if (lostKeys.length > 0) {
    throw new DemoError(`${lostKeys.length} acknowledged writes were lost: ${lostKeys.join(' ')}`)
  }
  write('   0 acknowledged writes lost.')
  run.step = 'writing to the new primary'
  for (let i = WRITES + 1; i <= WRITES + WRITES_AFTER_FAILOVER; i++) {
    const r = await kv2.set(keyOf(i), `value-${i}`)
    acked.set(r.key, r.value)
  }
  run.summary.writes = {
    ...run.summary.writes,
    acknowledged: acked.size,
    afterFailover: WRITES_AFTER_FAILOVER,
  }
  write(`   The service goes on: ${WRITES_AFTER_FAILOVER} more writes acknowledged under the new primary.`)
  write('')

  // 7. The killed agent comes back as a shadow.
  run.step = `restarting ${nameOf(victim)}`
  write(`7. Restarting ${nameOf(victim)} on its old data directory. It finds a newer epoch, so it`)
  write('   rejoins as a shadow (a deposed primary never serves again) and catches up:')
  const back = await cluster.restart(victim)
  run.pids.push(pidOf(back))
  const rejoined = await wait(
    `${nameOf(back)} to rejoin as a shadow and catch up`,
    async () => {
      const x = await workloadOn(back)
      const me = x?.replicas.find((r) => r.peerId === back.peerId)
      return x && me && me.role === 'shadow' && me.appliedSeq >= x.committedSeq - 1 ? { x, me } : undefined
    },
    CATCH_UP_MS,
  )
  run.summary.rejoined = {
    name: nameOf(back),
    site: back.site,
    peerId: back.peerId,
    pid: pidOf(back),
    role: rejoined.me.role,
    epoch: rejoined.me.epoch,
    appliedSeq: rejoined.me.appliedSeq,
    committedSeq: rejoined.x.committedSeq,
  }
  write(
    `   ${back.site}: ${rejoined.me.role} in epoch ${rejoined.me.epoch}, applied ${rejoined.me.appliedSeq} ` +
      `of ${rejoined.x.committedSeq} committed entries (pid ${pidOf(back)}).`,
  )
  write('')
  write(
    `The service lost a machine, not its data: ${acked.size} writes acknowledged, 0 lost, ` +
      `failover in ${ms(failover.tookMs)}.`,
  )
}

function nameOf(agent: AgentHandle): string {
  return `agent-${agent.site.replace(/^site-/, '')}`
}

function pidOf(agent: AgentHandle): number {
  if (agent.process.pid === undefined) throw new DemoError(`${nameOf(agent)}'s process did not start`)
  return agent.process.pid
}

function keyOf(i: number): string {
  return `k${String(i).padStart(2, '0')}`
}

/** The primary's line first, then the shadows in site order. */
function primaryFirst(w: WorkloadSummary): ReplicaInfo[] {
  return [...w.replicas].sort(
    (a, b) => Number(b.role === 'primary') - Number(a.role === 'primary') || a.site.localeCompare(b.site),
  )
}
