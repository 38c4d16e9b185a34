import test from 'ava'
import { lengthPrefixed } from '../../src/mesh/framing.ts'
import { type MeshNode, type PeerStatus, StatusError } from '../../src/mesh/index.ts'
import { connect, startNodes, stopAll } from './helpers.ts'

const PROTOCOL = '/understudy/status/1.0.0'

function sampleStatus(free: number): PeerStatus {
  return {
    site: 'lab-b',
    org: 'physics',
    labels: { gpu: 'none', room: 'B204' },
    cpu: { cores: 8, free },
    memory: { totalBytes: 16 * 2 ** 30, freeBytes: 9 * 2 ** 30 },
    ownerIdle: true,
    workloads: [{ id: 'wl-1', role: 'shadow' }],
    version: '0.1.0',
  }
}

test('a peer answers what it offers, as of the moment it is asked', async (t) => {
  let free = 6.5
  const [a, b] = (await Promise.all([
    startNodes(1),
    startNodes(1, { status: { getStatus: () => sampleStatus(free), advertise: false } }),
  ]).then((groups) => groups.flat())) as [MeshNode, MeshNode]
  t.teardown(() => stopAll([a, b]))
  await connect(a, b)

  t.deepEqual(await a.services.status.queryStatus(b.peerId), sampleStatus(6.5))
  free = 1
  t.is((await a.services.status.queryStatus(b.peerId)).cpu.free, 1)
})

test('a peer that offers nothing, or answers garbage, gives a StatusError', async (t) => {
  const nodes = await startNodes(2)
  t.teardown(() => stopAll(nodes))
  const [a, b] = nodes as [MeshNode, MeshNode]
  await connect(a, b)

  // b has no getStatus: it does not speak the protocol at all.
  const none = await t.throwsAsync(a.services.status.queryStatus(b.peerId), { instanceOf: StatusError })
  t.is(none?.code, 'ERR_STATUS')

  const answers: Array<[string, Uint8Array, RegExp]> = [
    ['not JSON', lengthPrefixed(Uint8Array.of(1, 0x7b, 0x7b)), /not JSON/],
    ['wrong version', lengthPrefixed(Uint8Array.of(9, 0x7b, 0x7d)), /version 9/],
    [
      'missing fields',
      lengthPrefixed(Uint8Array.of(1, ...new TextEncoder().encode('{"site":"x"}'))),
      /invalid at org/,
    ],
    ['oversized', Uint8Array.of(0xff, 0xff, 0x7f), /exceeds the maximum/],
  ]
  for (const [name, bytes, message] of answers) {
    await b.handle(
      PROTOCOL,
      (stream) => {
        stream.send(bytes)
        void stream.close()
      },
      { force: true },
    )
    const err = await t.throwsAsync(
      a.services.status.queryStatus(b.peerId),
      { instanceOf: StatusError },
      name,
    )
    t.regex(err?.message ?? '', message, name)
  }
})

test('a peer whose own status is invalid refuses to send it', async (t) => {
  const bad = { ...sampleStatus(1), cpu: { cores: -1, free: 0 } }
  const nodes = await Promise.all([
    startNodes(1),
    startNodes(1, { status: { getStatus: () => bad, advertise: false } }),
  ])
  const [a, b] = nodes.flat() as [MeshNode, MeshNode]
  t.teardown(() => stopAll([a, b]))
  await connect(a, b)
  await t.throwsAsync(a.services.status.queryStatus(b.peerId), { instanceOf: StatusError })
})
