/**
 * Repair with real agents: four agents, a kv guest with three replicas. A shadow's agent is killed
 * for good; after the grace period the primary brings a replica up on the spare agent (from a
 * checkpoint plus the log after it: the primary here is a former shadow whose log was compacted) and
 * removes the dead member. The replica count is restored and nothing acknowledged is lost.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import type { ControlEvent, WorkloadSummary } from '../../../src/agent/control/index.ts'
import { KvClient } from '../../../src/demo/kv-client.ts'
import { type AgentHandle, Cluster } from '../../../src/demo/local-mesh.ts'
import { waitFor as waitUntil } from '../../../src/demo/wait-for.ts'

const KV = fileURLToPath(new URL('../../../guests/build/kv.wasm', import.meta.url))

/** Polls `probe` until it answers (src/demo/wait-for.ts), with this file's deadline. */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000) =>
  waitUntil(what, probe, { timeoutMs, everyMs: 200 })

test('a member gone past the grace period is replaced from a checkpoint; the group is whole again', async (t) => {
  t.timeout(240_000)
  const cluster = await Cluster.start({
    size: 4,
    repairGraceMs: 2000,
    checkpointEveryEntries: 20,
    logLevel: process.env.UNDERSTUDY_TEST_LOG ?? 'info',
  })
  t.teardown(() => cluster.close())
  try {
    const [a0] = cluster.agents as [AgentHandle]
    await a0.client.run({ name: 'kv', image: KV, replicas: 3, args: ['/data'] })
    const live = (via: AgentHandle) =>
      waitFor('a live primary', async () => {
        const w = (await via.client.workloads()).find((x) => x.name === 'kv')
        return w?.primary && w.state === 'running' ? w : undefined
      })
    let w: WorkloadSummary = await live(a0)
    const kv = new KvClient(
      cluster.agents.map((a) => a.client),
      'kv',
    )
    const acked = new Map<string, string>()
    for (let i = 0; i < 25; i++) {
      const r = await kv.set(`r${i}`, `v${i}`)
      acked.set(r.key, r.value)
    }
    // Hand the primary role to a shadow that has compacted its log behind a checkpoint.
    await waitFor('a shadow with a checkpoint', async () => {
      w = (await a0.client.workloads()).find((x) => x.name === 'kv')!
      return w.replicas.some((r) => r.peerId !== w.primary && (r.checkpointSeq ?? 0) > 0) ? w : undefined
    })
    const target = w.replicas.find((r) => r.peerId !== w.primary && (r.checkpointSeq ?? 0) > 0)!.peerId
    await a0.client.failover('kv', { to: target })
    w = await waitFor('the drill to finish', async () => {
      const x = (await a0.client.workloads()).find((y) => y.name === 'kv')
      return x?.primary === target && x.state === 'running' ? x : undefined
    })
    const primary = cluster.agent(target)
    const events: ControlEvent[] = []
    const stopEvents = new AbortController()
    t.teardown(() => stopEvents.abort())
    void (async () => {
      try {
        for await (const item of primary.client.events({ signal: stopEvents.signal }))
          if (item.type === 'event') events.push(item.event)
      } catch {}
    })()

    const members = new Set(w.replicas.map((r) => r.peerId))
    const spare = cluster.agents.find((a) => !members.has(a.peerId))!
    const dead = cluster.agents.find((a) => members.has(a.peerId) && a.peerId !== target)!
    cluster.kill(dead, 'SIGKILL')

    w = await waitFor('the group to be whole again', async () => {
      const x = (await primary.client.workloads()).find((y) => y.name === 'kv')
      if (!x) return undefined
      const ids = x.replicas.map((r) => r.peerId)
      const joiner = x.replicas.find((r) => r.peerId === spare.peerId)
      return !ids.includes(dead.peerId) &&
        joiner?.reachable &&
        joiner.role === 'shadow' &&
        joiner.appliedSeq >= x.committedSeq - 2
        ? x
        : undefined
    })
    t.is(w.replicas.length, 3)
    t.true(w.replicas.every((r) => r.reachable && r.digest !== 'diverged'))
    t.is(new Set(w.replicas.map((r) => r.site)).size, 3, 'still three distinct sites')
    t.true(events.some((e) => e.type === 'repair' && e.phase === 'started' && e.peerId === spare.peerId))

    for (let i = 25; i < 30; i++) {
      const r = await kv.set(`r${i}`, `v${i}`)
      acked.set(r.key, r.value)
    }
    const keys = new Set(await new KvClient([spare.client], 'kv').keys())
    for (const k of acked.keys()) t.true(keys.has(k), `${k} survived the repair`)
  } catch (err) {
    t.log(cluster.dump())
    throw err
  }
})

test('when the owner comes back, the host hands its replicas off and nothing is lost', async (t) => {
  t.timeout(240_000)
  const cluster = await Cluster.start({
    size: 4,
    repairGraceMs: 60_000,
    checkpointEveryEntries: 20,
    idleOnly: true,
  })
  t.teardown(() => cluster.close())
  try {
    const [a0] = cluster.agents as [AgentHandle]
    await a0.client.run({ name: 'kv', image: KV, replicas: 3, args: ['/data'] })
    const w0 = await waitFor('a live primary', async () => {
      const w = (await a0.client.workloads()).find((x) => x.name === 'kv')
      return w?.primary && w.state === 'running' ? w : undefined
    })
    const kv = new KvClient(
      cluster.agents.map((a) => a.client),
      'kv',
    )
    const acked = new Map<string, string>()
    for (let i = 0; i < 10; i++) {
      const r = await kv.set(`o${i}`, `v${i}`)
      acked.set(r.key, r.value)
    }
    // The owner of the primary's machine sits down at it.
    const busy = cluster.agent(w0.primary!)
    await writeFile(join(busy.dir, 'owner-active'), '')
    const others = cluster.agents.filter((a) => a !== busy)
    const w = await waitFor(
      'the replicas to leave the busy machine',
      async () => {
        const x = (await others[0]!.client.workloads()).find((y) => y.name === 'kv')
        return x &&
          x.state === 'running' &&
          x.replicas.length === 3 &&
          !x.replicas.some((r) => r.peerId === busy.peerId) &&
          x.replicas.every((r) => r.reachable)
          ? x
          : undefined
      },
      90_000,
    )
    t.not(w.primary, busy.peerId)
    for (let i = 10; i < 14; i++) {
      const r = await kv.set(`o${i}`, `v${i}`)
      acked.set(r.key, r.value)
    }
    const keys = new Set(
      await new KvClient(
        others.map((a) => a.client),
        'kv',
      ).keys(),
    )
    for (const k of acked.keys()) t.true(keys.has(k), `${k} survived the hand-off`)
    // The busy machine no longer holds the workload.
    await waitFor('the busy machine to drop its replica', async () =>
      (await busy.client.status()).workloads === 0 ? true : undefined,
    )
  } catch (err) {
    t.log(cluster.dump())
    throw err
  }
})
