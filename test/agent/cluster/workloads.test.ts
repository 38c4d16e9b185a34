/**
 * The workload commands against real agents: a failover drill, `understudy ps` from the real CLI,
 * placement under an owner's data policy, a peer outside the group trying each way in, metrics.
 */
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import test from 'ava'
import type { ControlEvent } from '../../../src/agent/control/index.ts'
import { encodeMessage } from '../../../src/agent/group/wire.ts'
import { GROUP_TOPIC, TOPICS, tagGroupMessage } from '../../../src/agent/workload/peer-rpc.ts'
import { imageHashOf } from '../../../src/agent/workload/spec.ts'
import { KvClient } from '../../../src/demo/kv-client.ts'
import { type AgentHandle, Cluster } from '../../../src/demo/local-mesh.ts'
import { waitFor as waitUntil } from '../../../src/demo/wait-for.ts'
import { createMeshNode } from '../../../src/mesh/index.ts'
import { generateUserKey, signManifest, userIdOf } from '../../../src/policy/index.ts'

const KV = fileURLToPath(new URL('../../../guests/build/kv.wasm', import.meta.url))
const MAIN = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url))
const run = promisify(execFile)

/** Polls `probe` until it answers (src/demo/wait-for.ts), with this file's deadline. */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000) =>
  waitUntil(what, probe, { timeoutMs, everyMs: 200 })

function primaryOf(via: AgentHandle, name: string) {
  return waitFor(`${name} to have a primary`, async () => {
    const w = (await via.client.workloads()).find((x) => x.name === name)
    return w?.primary && w.state === 'running' ? w : undefined
  })
}

/** Collects an agent's control events until the test ends. */
function collectEvents(agent: AgentHandle, signal: AbortSignal): ControlEvent[] {
  const events: ControlEvent[] = []
  void (async () => {
    try {
      for await (const item of agent.client.events({ signal }))
        if (item.type === 'event') events.push(item.event)
    } catch {
      // ended with the test
    }
  })()
  return events
}

let cluster: Cluster
const done = new AbortController()

test.before(async () => {
  cluster = await Cluster.start({ size: 3, metrics: true })
})
test.afterEach.always((t) => {
  if (!t.passed && cluster) t.log(cluster.dump())
})
test.after.always(async () => {
  done.abort()
  await cluster?.close()
})

test.serial('a failover drill hands the primary role over and loses nothing', async (t) => {
  const [a0, a1] = cluster.agents as [AgentHandle, AgentHandle]
  await a0.client.run({ name: 'drill', image: KV, replicas: 3, args: ['/data'] })
  const before = await primaryOf(a0, 'drill')
  const kv = new KvClient(
    cluster.agents.map((a) => a.client),
    'drill',
  )
  const acked = new Map<string, string>()
  for (let i = 0; i < 8; i++) {
    const r = await kv.set(`d${i}`, `x${i}`)
    acked.set(r.key, r.value)
  }
  // Every agent of the group hears of the promotion, not only the one where it happened.
  const watchers = cluster.agents.map((a) => ({ agent: a, events: collectEvents(a, done.signal) }))
  const answer = await a1.client.failover('drill')
  t.is(answer.from, before.primary!)
  t.not(answer.to, before.primary)
  t.true(answer.epoch > before.epoch)
  const after = await primaryOf(a0, 'drill')
  t.is(after.primary, answer.to)
  for (let i = 8; i < 12; i++) {
    const r = await kv.set(`d${i}`, `x${i}`)
    acked.set(r.key, r.value)
  }
  const keys = new Set(await kv.keys())
  for (const k of acked.keys()) t.true(keys.has(k), `${k} survived the drill`)
  for (const { agent, events } of watchers) {
    await waitFor(`agent ${agent.index} to hear of the promotion`, async () =>
      events.some((e) => e.type === 'promotion' && e.workload === 'drill' && e.peerId === answer.to)
        ? true
        : undefined,
    )
  }
})

test.serial('understudy ps, from the real CLI, lists the workload and its replicas', async (t) => {
  const [a0] = cluster.agents as [AgentHandle]
  const { stdout } = await run(process.execPath, [MAIN, 'ps', '--socket', a0.socket, '--json'])
  const { workloads } = JSON.parse(stdout) as { workloads: { name: string; replicas: unknown[] }[] }
  const drill = workloads.find((w) => w.name === 'drill')
  t.truthy(drill)
  t.is(drill!.replicas.length, 3)
  const table = await run(process.execPath, [MAIN, 'ps', '--socket', a0.socket])
  t.regex(table.stdout, /drill/)
})

test.serial('placement follows the owner’s signed data policy, and says which rule blocked it', async (t) => {
  const [a0] = cluster.agents as [AgentHandle]
  const key = await generateUserKey()
  const image = await readFile(KV)
  const manifest = async (name: string, replicas: number) =>
    Buffer.from(
      JSON.stringify(
        await signManifest(
          {
            name,
            image: { sha256: imageHashOf(image) },
            replicas,
            owner: userIdOf(key),
            dataPolicy: { deny: { sites: ['site-c'] }, minSites: replicas },
            createdAt: new Date().toISOString(),
          },
          key,
        ),
      ),
    ).toString('base64')

  const placed = await a0.client.run({
    name: 'not-c',
    image: KV,
    replicas: 2,
    args: ['/data'],
    manifest: await manifest('not-c', 2),
  })
  t.deepEqual(placed.workload.replicas.map((r) => r.site).sort(), ['site-a', 'site-b'])

  const refused = await t.throwsAsync(
    a0.client.run({
      name: 'three',
      image: KV,
      replicas: 3,
      args: ['/data'],
      manifest: await manifest('three', 3),
    }),
  )
  t.regex(refused!.message, /cannot be placed/)
  t.true(JSON.stringify(refused).includes('site-c') || refused!.message.includes('site'), refused!.message)
  t.false(
    (await a0.client.workloads()).some((w) => w.name === 'three'),
    'nothing was placed',
  )

  const tampered = JSON.parse(Buffer.from(await manifest('tampered', 2), 'base64').toString())
  tampered.manifest.dataPolicy.deny = {}
  const bad = await t.throwsAsync(
    a0.client.run({
      name: 'tampered',
      image: KV,
      replicas: 2,
      args: ['/data'],
      manifest: Buffer.from(JSON.stringify(tampered)).toString('base64'),
    }),
  )
  t.regex(bad!.message, /signature|tamper/i)
})

test.serial(
  'a peer outside the group is refused every way in, audited, and the group is unharmed',
  async (t) => {
    const [a0, a1] = cluster.agents as [AgentHandle, AgentHandle]
    const before = await primaryOf(a0, 'drill')
    const events = collectEvents(a1, done.signal)
    const rogue = await createMeshNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    t.teardown(() => rogue.stop())
    const target = peerIdFromString(a1.peerId)
    await rogue.dial(multiaddr(a1.addrs[0]!))
    const rogueId = rogue.peerId.toString()

    // Claiming to be the primary of a much newer epoch, under its own name and under the primary's.
    for (const from of [rogueId, before.primary!]) {
      const message = encodeMessage({
        type: 'append',
        from,
        to: a1.peerId,
        epoch: 1000,
        prev: { seq: 0, epoch: 0 },
        entries: [],
        leaderCommit: 0,
      })
      rogue.services.messenger.send(target, GROUP_TOPIC, tagGroupMessage('drill', message))
    }
    // Control commands relayed by a stranger.
    for (const [topic, body] of [
      [TOPICS.stop, { name: 'drill', keepData: false }],
      [TOPICS.logs, { name: 'drill', from: 0 }],
      [TOPICS.failover, { name: 'drill' }],
      [TOPICS.checkpoint, { name: 'drill', seq: 1 }],
      [TOPICS.stdin, { name: 'drill', data: Buffer.from('SET x y\n').toString('base64'), eof: false }],
    ] as const) {
      const err = await t.throwsAsync(
        rogue.services.messenger.request(target, topic, Buffer.from(JSON.stringify(body))),
      )
      t.is(
        (err as { remoteCode?: string }).remoteCode,
        'ERR_FORBIDDEN',
        `${topic}: ${(err as Error).message}`,
      )
    }
    await waitFor(
      'the refusals to be reported',
      async () => {
        const refusals = events.filter((e) => e.type === 'policy-refusal')
        if (refusals.length >= 7) return true
        throw new Error(JSON.stringify(refusals.map((e) => e.type === 'policy-refusal' && e.action)))
      },
      15_000,
    )
    const after = await primaryOf(a0, 'drill')
    t.is(after.epoch, before.epoch, 'no election was forced')
    t.is(after.primary, before.primary)
    const kv = new KvClient([a0.client], 'drill')
    await kv.set('after-rogue', 'fine')
  },
)

test.serial('Prometheus metrics: understudy’s and libp2p’s', async (t) => {
  const primary = cluster.agent((await primaryOf(cluster.agents[0]!, 'drill')).primary!)
  t.truthy(primary.metricsUrl)
  const text = await (await fetch(primary.metricsUrl!)).text()
  t.regex(text, /understudy_entries_committed_total\{workload="drill"\} [1-9]/)
  t.regex(text, /understudy_commit_latency_seconds_count\{workload="drill"\} [1-9]/)
  t.regex(text, /libp2p_/)
})

test.serial('SIGTERM stops an agent gracefully; it comes back and catches up', async (t) => {
  const [a0] = cluster.agents as [AgentHandle]
  const w = await primaryOf(a0, 'drill')
  const shadow = cluster.agents.find(
    (a) => a.peerId !== w.primary && w.replicas.some((r) => r.peerId === a.peerId),
  )!
  shadow.process.kill('SIGTERM')
  t.is(await shadow.exited, 0, 'a clean exit')
  const kv = new KvClient(
    cluster.agents.filter((a) => a !== shadow).map((a) => a.client),
    'drill',
  )
  await kv.set('while-away', 'yes')
  const back = await cluster.restart(shadow)
  await waitFor('the restarted shadow to catch up', async () => {
    const x = (await back.client.workloads()).find((y) => y.name === 'drill')
    const me = x?.replicas.find((r) => r.peerId === back.peerId)
    return x && me && me.role === 'shadow' && me.appliedSeq >= x.committedSeq - 1 ? x : undefined
  })
  t.pass()
})

test.serial(
  'a module the machine refuses is refused by run, with its reason, before anyone hosts it',
  async (t) => {
    const [a0] = cluster.agents as [AgentHandle]
    const bad = join(cluster.root, 'garbage.wasm')
    await writeFile(bad, 'this is not WebAssembly')
    const err = await t.throwsAsync(a0.client.run({ name: 'garbage', image: bad, replicas: 3 }))
    t.is((err as { code?: string }).code, 'ERR_INVALID_MODULE')
    t.false((await a0.client.workloads()).some((w) => w.name === 'garbage'))
  },
)
