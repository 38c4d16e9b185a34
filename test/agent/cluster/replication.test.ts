/**
 * Replica groups for real: three `understudy agent` processes on loopback, the kv guest replicated
 * three ways, a client writing through the control API. The primary is killed (-9), stopped past the
 * timeout (SIGSTOP) and restarted; every acknowledged write must still be there, no deposed primary
 * may keep serving, and a restarted agent must catch up.
 */
import { fileURLToPath } from 'node:url'
import test from 'ava'
import type { WorkloadSummary } from '../../../src/agent/control/index.ts'
import { KvClient } from '../../../src/demo/kv-client.ts'
import { type AgentHandle, Cluster } from '../../../src/demo/local-mesh.ts'
import { waitFor as waitUntil } from '../../../src/demo/wait-for.ts'

const KV = fileURLToPath(new URL('../../../guests/build/kv.wasm', import.meta.url))

/** Polls `probe` until it answers (src/demo/wait-for.ts), with this file's deadline. */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000) =>
  waitUntil(what, probe, { timeoutMs, everyMs: 200 })

function running(via: AgentHandle, name: string, primaryNot?: string) {
  return waitFor(`${name} to have a live primary`, async () => {
    const w = (await via.client.workloads()).find((x) => x.name === name)
    return w?.primary && w.primary !== primaryNot && (w.state === 'running' || w.state === 'degraded')
      ? w
      : undefined
  })
}

async function writeMany(kv: KvClient, from: number, n: number, acked: Map<string, string>) {
  for (let i = from; i < from + n; i++) {
    const r = await kv.set(`k${i}`, `v${i}-${Math.random().toString(36).slice(2, 8)}`)
    acked.set(r.key, r.value)
  }
}

test.serial('a replicated kv survives kill -9, SIGSTOP and restarts of its primaries', async (t) => {
  t.timeout(180_000)
  const cluster = await Cluster.start({ size: 3 })
  t.teardown(() => cluster.close())
  try {
    const [a0] = cluster.agents as [AgentHandle]
    const run = await a0.client.run({ name: 'kv', image: KV, replicas: 3, args: ['/data'] })
    t.is(run.workload.replicas.length, 3)
    t.deepEqual(new Set(run.workload.replicas.map((r) => r.site)).size, 3, 'replicas in three distinct sites')

    let w: WorkloadSummary = await running(a0, 'kv')
    t.is(w.primary, a0.peerId, 'the placing agent hosts the first primary')
    const clients = cluster.agents.map((a) => a.client)
    const kv = new KvClient(clients, 'kv', { retryAfterMs: 3000, giveUpAfterMs: 60_000 })
    const acked = new Map<string, string>()
    await writeMany(kv, 0, 15, acked)

    // Shadows replay every committed entry and agree with the primary's digest at checkpoints.
    w = await waitFor('shadows to catch up', async () => {
      const x = (await a0.client.workloads())[0]!
      return x.replicas.every((r) => r.reachable && r.appliedSeq >= x.committedSeq - 1) ? x : undefined
    })
    t.true(w.replicas.every((r) => r.digest !== 'diverged'))
    // Shadows checkpoint every 50 entries (all at the same seqs) and drop the log before it.
    const shadowsOf = (x: WorkloadSummary) => x.replicas.filter((r) => r.peerId !== x.primary)
    t.true(
      shadowsOf(w).every((r) => (r.checkpointSeq ?? 0) > 0),
      JSON.stringify(w.replicas.map((r) => r.checkpointSeq)),
    )

    // 1. kill -9 the primary: a shadow takes over and nothing acknowledged is lost.
    const first = cluster.agent(w.primary!)
    cluster.kill(first, 'SIGKILL')
    const survivors = cluster.agents.filter((a) => a !== first)
    w = await running(survivors[0]!, 'kv', first.peerId)
    t.not(w.primary, first.peerId)
    t.true(w.epoch >= 2)
    const kv2 = new KvClient(
      survivors.map((a) => a.client),
      'kv',
      { retryAfterMs: 3000 },
    )
    await writeMany(kv2, 15, 10, acked)
    const keys = new Set(await kv2.keys())
    for (const k of acked.keys()) t.true(keys.has(k), `acknowledged ${k} survived the kill`)

    // 2. The killed agent comes back, rejoins as a shadow and catches up.
    const back = await cluster.restart(first)
    await waitFor('the restarted agent to catch up', async () => {
      const x = (await back.client.workloads()).find((y) => y.name === 'kv')
      const me = x?.replicas.find((r) => r.peerId === back.peerId)
      return me && x && me.role === 'shadow' && me.appliedSeq >= x.committedSeq - 1 ? x : undefined
    })
    // It took checkpoints again (from its own, or from one another member sent it).
    await waitFor('the restarted agent to checkpoint', async () => {
      const x = (await back.client.workloads()).find((y) => y.name === 'kv')
      return (x?.replicas.find((r) => r.peerId === back.peerId)?.checkpointSeq ?? 0) > 0 ? x : undefined
    })

    // 3. SIGSTOP the primary past the election timeout: the others elect a new one; after SIGCONT the
    // old one steps down and never serves again in its old epoch.
    const stopped = cluster.agent(w.primary!)
    const oldEpoch = w.epoch
    cluster.kill(stopped, 'SIGSTOP')
    const others = cluster.agents.filter((a) => a !== stopped)
    w = await running(others[0]!, 'kv', stopped.peerId)
    t.true(w.epoch > oldEpoch)
    const kv3 = new KvClient(
      others.map((a) => a.client),
      'kv',
      { retryAfterMs: 3000 },
    )
    await writeMany(kv3, 25, 5, acked)
    cluster.kill(stopped, 'SIGCONT')
    await waitFor('the old primary to step down', async () => {
      const x = (await stopped.client.workloads()).find((y) => y.name === 'kv')
      const me = x?.replicas.find((r) => r.peerId === stopped.peerId)
      return me && me.role === 'shadow' && me.epoch >= w.epoch ? x : undefined
    })
    // Writes sent to the old primary's agent now reach the new primary.
    const kvOld = new KvClient([stopped.client], 'kv', { retryAfterMs: 3000 })
    await writeMany(kvOld, 30, 3, acked)
    // A long-lived primary does not keep its whole log: it adopts a checkpoint a majority holds.
    const primaryCheckpoint = async () => {
      const x = (await others[0]!.client.workloads()).find((y) => y.name === 'kv')
      return x?.replicas.find((r) => r.peerId === x.primary && r.peerId === w.primary)?.checkpointSeq ?? 0
    }
    const before = await primaryCheckpoint()
    await writeMany(kv3, 100, 40, acked)
    await waitFor('the primary to truncate its log', async () =>
      (await primaryCheckpoint()) > before ? true : undefined,
    )
    const final = new Set(await kv3.keys())
    for (const k of acked.keys()) t.true(final.has(k), `acknowledged ${k} survived`)
    t.is(acked.size, 73)
  } catch (err) {
    t.log(cluster.dump())
    throw err
  }
})
