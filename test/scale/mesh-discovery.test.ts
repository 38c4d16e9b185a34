/** A mesh of 21 agents plus a late joiner, found through bootstrap and the private DHT. */
import test from 'ava'
import { createMeshNode, type MeshNode, type PeerStatus } from '../../src/mesh/index.ts'
import { stopAll, waitFor } from '../mesh/helpers.ts'

const AGENTS = 21

function statusOf(i: number): PeerStatus {
  return {
    site: `site-${i % 4}`,
    org: 'lab',
    labels: { agent: String(i) },
    cpu: { cores: 4, free: i % 5 },
    memory: { totalBytes: 8 * 2 ** 30, freeBytes: i * 2 ** 20 },
    ownerIdle: i % 2 === 0,
    workloads: [],
    version: '0.1.0',
  }
}

test('a mesh of 21 agents advertises capacity, and a newcomer lists every one within seconds', async (t) => {
  const nodes: MeshNode[] = []
  t.teardown(() => stopAll(nodes))
  const started = performance.now()
  const first = await createMeshNode({ status: { getStatus: () => statusOf(0) } })
  nodes.push(first)
  const seed = first.getMultiaddrs().map(String)
  // Every other agent knows only the first one.
  nodes.push(
    ...(await Promise.all(
      Array.from({ length: AGENTS - 1 }, (_, k) =>
        createMeshNode({ bootstrap: seed, status: { getStatus: () => statusOf(k + 1) } }),
      ),
    )),
  )
  await waitFor(
    () => nodes.every((n) => n.services.status.advertisedAt > 0),
    20_000,
    'every agent to advertise',
  )
  const advertisedMs = performance.now() - started

  // The newcomer bootstraps from one agent that is not the seed, and is connected to nobody else.
  const via = nodes[7]?.getMultiaddrs()[0]?.toString() ?? ''
  const newcomer = await createMeshNode({ bootstrap: [via] })
  nodes.push(newcomer)
  const asked = performance.now()
  const failures: string[] = []
  const candidates = await newcomer.services.status.listCandidates({
    timeout: 15_000,
    onError: (peer, err) => failures.push(`${peer}: ${err.message}`),
  })
  const listMs = performance.now() - asked
  t.log(
    `21 agents advertised in ${Math.round(advertisedMs)} ms; newcomer listed ${candidates.length} in ${Math.round(listMs)} ms`,
  )

  const expected = nodes
    .slice(0, AGENTS)
    .map((n) => n.peerId.toString())
    .sort()
  t.deepEqual(
    candidates.map((c) => c.peerId.toString()),
    expected,
    `missing: ${expected.filter((id) => !candidates.some((c) => c.peerId.toString() === id))}; ${failures}`,
  )
  for (const candidate of candidates) {
    const index = nodes.findIndex((n) => n.peerId.equals(candidate.peerId))
    t.deepEqual(candidate.status, statusOf(index))
  }
  t.true(
    candidates.every((c) => c.via !== 'known'),
    'a newcomer has met nobody before: every candidate came from a connection or the DHT',
  )
  t.true(candidates.filter((c) => c.via === 'dht').length >= AGENTS - 2, 'most were found through the DHT')
  t.true(listMs < 8000, `listed in ${Math.round(listMs)} ms`)

  // Agents query each other as well: one of the first agents sees the other twenty (and the newcomer offers nothing).
  const fromFirst = await first.services.status.listCandidates()
  t.is(fromFirst.length, AGENTS - 1)
})
