import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { ConfigError } from '../../src/errors/index.ts'
import { createMeshNode, loadOrCreateIdentity, type MeshNode } from '../../src/mesh/index.ts'
import { connect, startNodes, stopAll, waitFor } from './helpers.ts'

test('the DHT speaks understudy’s private protocol in server mode, never the public one', async (t) => {
  const [node] = (await startNodes(1)) as [MeshNode]
  t.teardown(() => node.stop())
  const protocols = node.getProtocols()
  t.true(protocols.includes('/understudy/kad/1.0.0'))
  t.false(protocols.some((p) => p.startsWith('/ipfs/kad')))
  t.true(protocols.includes('/understudy/log/1.0.0'))
  t.is(node.services.dht.getMode(), 'server')
  t.deepEqual(
    node.getMultiaddrs().map((a) =>
      a
        .toString()
        .split('/p2p/')[0]
        ?.replace(/tcp\/\d+/, 'tcp/N'),
    ),
    ['/ip4/127.0.0.1/tcp/N'],
    'listens on loopback only unless configured',
  )

  const prefixed = await createMeshNode({ protocolPrefix: 'lab-7', dhtMode: 'client' })
  t.teardown(() => prefixed.stop())
  t.true(prefixed.getProtocols().includes('/lab-7/log/1.0.0'))
  t.false(prefixed.getProtocols().includes('/lab-7/kad/1.0.0'), 'a DHT client answers no queries')
})

test('the connection gater keeps out the peers the policy rejects, in both directions', async (t) => {
  const nodes = await startNodes(2)
  t.teardown(() => stopAll(nodes))
  const [friend, stranger] = nodes as [MeshNode, MeshNode]
  const asked: string[] = []
  const guarded = await createMeshNode({
    connectionGater: async (peerId) => {
      asked.push(peerId.toString())
      return !peerId.equals(stranger.peerId)
    },
  })
  t.teardown(() => guarded.stop())

  await connect(guarded, friend)
  t.is(guarded.getConnections(friend.peerId).length, 1)
  await t.throwsAsync(connect(guarded, stranger), undefined, 'no outbound connection to a rejected peer')
  // Inbound, the dialer may finish its side of the handshake before the gater's verdict:
  // the connection is then closed at once, and nothing can be asked over it.
  await connect(stranger, guarded).catch(() => {})
  await waitFor(
    () => stranger.getConnections(guarded.peerId).length === 0,
    2000,
    'the rejected connection to close',
  )
  t.is(guarded.getConnections(stranger.peerId).length, 0)
  await t.throwsAsync(stranger.services.ping.ping(guarded.peerId))
  t.true((await friend.services.ping.ping(guarded.peerId)) >= 0, 'an accepted peer talks freely')
  t.true(asked.includes(stranger.peerId.toString()))
})

test('bootstrap peers are dialed at start, and again after they restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-bootstrap-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { privateKey } = await loadOrCreateIdentity(dir)
  let seed = await createMeshNode({ privateKey })
  const addr = seed.getMultiaddrs()[0]?.toString() ?? ''
  const port = addr.split('/')[4]
  const joiner = await createMeshNode({ bootstrap: [addr], bootstrapRetryInterval: 100 })
  t.teardown(async () => {
    await joiner.stop()
    await seed.stop()
  })
  await waitFor(() => joiner.getConnections(seed.peerId).length > 0, 3000, 'the bootstrap connection')

  await seed.stop()
  await waitFor(() => joiner.getConnections(seed.peerId).length === 0, 3000, 'the disconnect')
  seed = await createMeshNode({ privateKey, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
  await waitFor(() => joiner.getConnections(seed.peerId).length > 0, 3000, 'the reconnection')
  t.pass()
})

test('a bootstrap address without a peer id is a configuration error', async (t) => {
  await t.throwsAsync(createMeshNode({ bootstrap: ['/ip4/127.0.0.1/tcp/4001'] }), { instanceOf: ConfigError })
})

test('with mDNS on, agents on this host find and connect to each other without a bootstrap list', async (t) => {
  const nodes = await startNodes(2, { mdns: { interval: 200 } })
  t.teardown(() => stopAll(nodes))
  const [a, b] = nodes as [MeshNode, MeshNode]
  await waitFor(
    () => a.getConnections(b.peerId).length > 0,
    5000,
    'mDNS discovery (needs multicast on loopback)',
  )
  t.true(b.getConnections(a.peerId).length > 0)
})
