/** The messenger between real libp2p nodes over TCP on loopback (and one peer in a child process, stalled for real). */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import test from 'ava'
import { UnderstudyError, UnknownWorkloadError } from '../../src/errors/index.ts'
import { FrameReader } from '../../src/mesh/framing.ts'
import {
  createMeshNode,
  FrameTooLargeError,
  InvalidTopicError,
  type MeshNode,
  type MeshNodeOptions,
  MessengerStoppedError,
  type Refusal,
  RemoteError,
  RequestAbortedError,
  RequestTimeoutError,
  TopicForbiddenError,
  UnknownTopicError,
} from '../../src/mesh/index.ts'
import { decodeFrame, encodeTopicFrame, type Frame, topicBytes } from '../../src/mesh/messenger/codec.ts'
import { connect, startNodes, stopAll, waitFor } from './helpers.ts'

const PROTOCOL = '/understudy/msg/1.0.0'
const PEER = new URL('./fixtures/messenger-peer.ts', import.meta.url).pathname
const enc = new TextEncoder()
const dec = new TextDecoder()

type Teardown = { teardown(fn: () => unknown): void }

async function nodes(t: Teardown, count: number, options: MeshNodeOptions = {}): Promise<MeshNode[]> {
  const started = await startNodes(count, options)
  t.teardown(() => stopAll(started))
  return started
}

function seqPayload(seq: number, size = 8): Uint8Array {
  const bytes = new Uint8Array(Math.max(4, size))
  new DataView(bytes.buffer).setUint32(0, seq)
  return bytes
}

function seqOf(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0)
}

/** Polls an async probe until its value satisfies `ok`; returns the last value seen. */
async function eventually<T>(
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  timeout = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeout
  let value = await probe()
  while (!ok(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    value = await probe()
  }
  return value
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

test('1000 one-way messages arrive once each and in order, across topics', async (t) => {
  const [a, b] = (await nodes(t, 2)) as [MeshNode, MeshNode]
  await connect(a, b)
  const got: string[] = []
  b.services.messenger.handle('red', (from, payload) => {
    if (from.equals(a.peerId)) got.push(`red:${seqOf(payload)}`)
  })
  b.services.messenger.handle('blue', (_from, payload) => got.push(`blue:${seqOf(payload)}`))
  const expected: string[] = []
  for (let i = 0; i < 1000; i++) {
    const topic = i % 3 === 0 ? 'blue' : 'red'
    expected.push(`${topic}:${i}`)
    t.true(a.services.messenger.send(b.peerId, topic, seqPayload(i, 64)))
  }
  await waitFor(() => got.length >= 1000, 15_000, '1000 messages')
  t.deepEqual(got, expected)
  const stats = a.services.messenger.stats()
  t.is(stats.sent, 1000)
  t.is(stats.dropped, 0)
  t.is(b.services.messenger.stats().received, 1000)
})

interface Child {
  process: ChildProcess
  peerId: string
  addrs: string[]
}

async function startPeer(): Promise<Child> {
  // process.execPath is the Node 24 running this test: a signal reaches the peer itself, not a wrapper.
  const child = spawn(process.execPath, [PEER], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`peer exited with ${code}: ${stderr}`)))
  })
  return { process: child, ...(JSON.parse(first) as Omit<Child, 'process'>) }
}

test('a stalled peer (SIGSTOP) fills the bounded queue, later messages are dropped and counted, and all queued ones arrive in order after SIGCONT', async (t) => {
  const child = await startPeer()
  t.teardown(() => {
    child.process.kill('SIGCONT')
    child.process.kill('SIGKILL')
  })
  const maxQueueBytes = 128 * 1024
  const [a] = (await nodes(t, 1, { messenger: { maxQueueBytes } })) as [MeshNode]
  const peer = peerIdFromString(child.peerId)
  await a.dial(multiaddr(child.addrs[0] as string))
  const messenger = a.services.messenger
  const count = async (): Promise<{ received: number; last: number; outOfOrder: number; sum: number }> =>
    JSON.parse(dec.decode(await messenger.request(peer, 'count', new Uint8Array(0), { timeoutMs: 10_000 })))

  // The message stream is open and working before the peer stalls.
  const accepted: number[] = []
  let seq = 0
  for (; seq < 10; seq++) if (messenger.send(peer, 'seq', seqPayload(seq, 1024))) accepted.push(seq)
  await waitFor(() => messenger.stats().queuedBytes === 0, 10_000, 'the first messages to leave')
  t.is((await count()).received, 10)

  child.process.kill('SIGSTOP')
  // Paced sends, so the pump runs between them: only a peer that reads nothing makes the queue fill.
  let dropped = 0
  while (dropped < 500 && seq < 50_000) {
    for (let i = 0; i < 32; i++, seq++) {
      if (messenger.send(peer, 'seq', seqPayload(seq, 1024))) accepted.push(seq)
      else dropped++
    }
    await new Promise((resolve) => setImmediate(resolve))
  }
  const stats = messenger.stats()
  t.log(`accepted ${accepted.length}, dropped ${dropped}, queued ${stats.queuedBytes} bytes while stalled`)
  t.true(dropped >= 500, 'a stalled peer makes send() drop')
  t.is(stats.dropped, dropped, 'every drop is counted')
  t.true(stats.queuedBytes <= maxQueueBytes, 'the queue never exceeds its bound')
  t.true(stats.queuedBytes > maxQueueBytes - 2048, 'the queue is full')
  t.true(accepted.length < 2000, 'what left the queue is bounded by the stream windows, not by the sender')

  child.process.kill('SIGCONT')
  const expectedSum = accepted.reduce((sum, n) => sum + n, 0)
  const last = await eventually(count, (c) => c.received >= accepted.length)
  t.deepEqual(last, {
    received: accepted.length,
    last: accepted[accepted.length - 1] as number,
    outOfOrder: 0,
    sum: expectedSum,
  })
  child.process.kill('SIGTERM')
})

test('messages sent after the remote restarts with the same identity arrive', async (t) => {
  const port = await freePort()
  const privateKey = await generateKeyPair('Ed25519')
  const options = {
    privateKey,
    listen: [`/ip4/127.0.0.1/tcp/${port}`],
    start: false,
  }
  const startB = async (got: number[]): Promise<MeshNode> => {
    const node = await createMeshNode(options)
    node.services.messenger.handle('seq', (_from, payload) => got.push(seqOf(payload)))
    await node.start()
    t.teardown(() => node.stop())
    return node
  }
  const [a] = (await nodes(t, 1, {
    messenger: { reconnectMinDelay: 20, reconnectMaxDelay: 200 },
  })) as [MeshNode]
  const before: number[] = []
  const b = await startB(before)
  await connect(a, b)
  for (let i = 0; i < 10; i++) a.services.messenger.send(b.peerId, 'seq', seqPayload(i))
  await waitFor(() => before.length === 10, 10_000, 'the first 10 messages')

  await b.stop()
  await waitFor(() => a.getConnections(b.peerId).length === 0, 10_000, 'the connection to go')
  // Queued while the peer is away: they wait for the next stream (or are lost: best effort).
  for (let i = 10; i < 15; i++) a.services.messenger.send(b.peerId, 'seq', seqPayload(i))

  const after: number[] = []
  const b2 = await startB(after)
  t.true(b2.peerId.equals(b.peerId))
  for (let i = 15; i < 40; i++) a.services.messenger.send(b.peerId, 'seq', seqPayload(i))
  await waitFor(() => after.includes(39), 15_000, 'the messages sent after the restart')
  const fresh = after.filter((seq) => seq >= 15)
  t.deepEqual(
    fresh,
    Array.from({ length: 25 }, (_, i) => 15 + i),
    'all sent after the restart, in order',
  )
  t.deepEqual(
    after,
    [...after].sort((x, y) => x - y),
    'nothing out of order',
  )
  t.is(new Set(after).size, after.length, 'nothing twice')
})

test('a request gets its answer; a handler error comes back typed, with the remote code and message', async (t) => {
  const [a, b] = (await nodes(t, 2)) as [MeshNode, MeshNode]
  b.services.messenger.handleRequest('echo', async (from, payload) => {
    return enc.encode(`${from.equals(a.peerId) ? 'a' : '?'}:${dec.decode(payload)}`)
  })
  b.services.messenger.handleRequest('host', async () => {
    throw new UnknownWorkloadError('w9')
  })
  b.services.messenger.handleRequest('crash', async () => {
    throw new Error('secret internal detail')
  })
  const big = new Uint8Array(3 * 1024 * 1024).fill(7)
  b.services.messenger.handleRequest('size', async (_from, payload) => enc.encode(String(payload.byteLength)))

  await connect(a, b)
  t.is(dec.decode(await a.services.messenger.request(b.peerId, 'echo', enc.encode('hello'))), 'a:hello')
  t.is(dec.decode(await a.services.messenger.request(b.peerId, 'size', big)), String(big.byteLength))

  const remote = await t.throwsAsync(a.services.messenger.request(b.peerId, 'host', enc.encode('{}')), {
    instanceOf: RemoteError,
  })
  t.is(remote?.code, 'ERR_REMOTE')
  t.is(remote?.remoteCode, 'ERR_UNKNOWN_WORKLOAD')
  t.is(remote?.remoteMessage, new UnknownWorkloadError('w9').message)
  t.true(remote?.remote)

  const crash = await t.throwsAsync(a.services.messenger.request(b.peerId, 'crash', new Uint8Array(0)), {
    instanceOf: RemoteError,
  })
  t.is(crash?.remoteCode, 'ERR_INTERNAL')
  t.false(crash?.message.includes('secret'), 'internal details stay on the remote')
})

test('a request on a topic the peer does not handle fails with UnknownTopicError', async (t) => {
  const [a, b] = (await nodes(t, 2)) as [MeshNode, MeshNode]
  await connect(a, b)
  const err = await t.throwsAsync(a.services.messenger.request(b.peerId, 'nope', new Uint8Array(0)), {
    instanceOf: UnknownTopicError,
  })
  t.is(err?.code, 'ERR_UNKNOWN_TOPIC')
  t.true(err?.remote)
})

test('an unanswered request times out or is aborted with a typed error, and the remote handler is told', async (t) => {
  const [a, b] = (await nodes(t, 2)) as [MeshNode, MeshNode]
  await connect(a, b)
  const aborted: unknown[] = []
  let started = 0
  b.services.messenger.handleRequest('slow', (_from, _payload, signal) => {
    started++
    return new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        aborted.push(signal.reason)
        reject(signal.reason)
      })
    })
  })
  // Generous: the request must reach the handler before it times out, even on a loaded machine.
  const timeout = await t.throwsAsync(
    a.services.messenger.request(b.peerId, 'slow', new Uint8Array(0), { timeoutMs: 3000 }),
    { instanceOf: RequestTimeoutError },
  )
  t.is(timeout?.code, 'ERR_REQUEST_TIMEOUT')
  t.is(timeout?.timeoutMs, 3000)
  t.is(started, 1, 'the request reached the handler before it timed out')
  await waitFor(() => aborted.length === 1, 10_000, 'the handler to be aborted')

  const controller = new AbortController()
  const pending = a.services.messenger.request(b.peerId, 'slow', new Uint8Array(0), {
    signal: controller.signal,
  })
  await waitFor(() => started === 2, 10_000, 'the request to reach the handler')
  controller.abort(new Error('the user pressed ^C'))
  const abortErr = await t.throwsAsync(pending, { instanceOf: RequestAbortedError })
  t.regex(abortErr?.message ?? '', /\^C/)
  await waitFor(() => aborted.length === 2, 10_000, 'the second handler to be aborted')
})

test('authorize refuses messages and requests; both kinds are reported, order is kept and the peer keeps serving', async (t) => {
  const refusals: { from: PeerId; topic: string; refusal: Refusal }[] = []
  const [b] = (await nodes(t, 1, {
    messenger: {
      // Async for one topic, sync for the others, throwing for one: the decisions must keep order.
      authorize: (_from, topic) => {
        if (topic === 'secret') return new Promise((resolve) => setTimeout(() => resolve(false), 50))
        if (topic === 'broken') throw new Error('policy store unavailable')
        return true
      },
      onRefused: (from, topic, refusal) => refusals.push({ from, topic, refusal }),
    },
  })) as [MeshNode]
  const [a] = (await nodes(t, 1)) as [MeshNode]
  await connect(a, b)
  const got: string[] = []
  for (const topic of ['open', 'secret', 'broken']) {
    b.services.messenger.handle(topic, (_from, payload) => got.push(`${topic}:${seqOf(payload)}`))
  }
  b.services.messenger.handleRequest('secret', async () => enc.encode('the crown jewels'))
  b.services.messenger.handleRequest('open', async () => enc.encode('ok'))

  const send = (topic: string, seq: number): boolean =>
    a.services.messenger.send(b.peerId, topic, seqPayload(seq))
  send('open', 1)
  send('secret', 2)
  send('open', 3)
  send('broken', 4)
  send('open', 5)
  await waitFor(() => got.length === 3, 10_000, 'the allowed messages')
  t.deepEqual(got, ['open:1', 'open:3', 'open:5'])

  const err = await t.throwsAsync(a.services.messenger.request(b.peerId, 'secret', new Uint8Array(0)), {
    instanceOf: TopicForbiddenError,
  })
  t.is(err?.code, 'ERR_TOPIC_FORBIDDEN')
  t.true(err?.remote)
  t.is(dec.decode(await a.services.messenger.request(b.peerId, 'open', new Uint8Array(0))), 'ok')

  t.deepEqual(
    refusals.map((r) => [r.from.toString(), r.topic, r.refusal.kind, r.refusal.error?.message]),
    [
      [a.peerId.toString(), 'secret', 'message', undefined],
      [a.peerId.toString(), 'broken', 'message', 'policy store unavailable'],
      [a.peerId.toString(), 'secret', 'request', undefined],
    ],
  )
  t.is(b.services.messenger.stats().refused, 3)
})

/** A raw client on the messenger protocol: what it sends is not checked, what comes back is collected. */
class RawClient {
  readonly frames: Frame[] = []
  closed = false
  readonly stream: Stream
  private readonly reader = new FrameReader(1 << 20)

  constructor(stream: Stream) {
    this.stream = stream
    stream.addEventListener('message', (evt) => {
      for (const body of this.reader.push(evt.data)) this.frames.push(decodeFrame(body))
    })
    stream.addEventListener('close', () => {
      this.closed = true
    })
  }

  static async open(from: MeshNode, to: MeshNode): Promise<RawClient> {
    return new RawClient(await from.dialProtocol(to.peerId, PROTOCOL))
  }

  async refusedWith(bytes: Uint8Array): Promise<string> {
    this.stream.send(bytes)
    await waitFor(() => this.closed, 10_000, 'the peer to close the stream')
    const [frame] = this.frames
    if (this.frames.length !== 1 || frame?.type !== 'error' || frame.source !== 'messenger') {
      throw new Error(`expected one messenger ERROR frame, got ${JSON.stringify(this.frames)}`)
    }
    return frame.code
  }
}

function lengthPrefixed(body: number[]): Uint8Array {
  return Uint8Array.from([body.length, ...body])
}

test('garbage and oversize frames on a raw stream are refused with a typed error, and the node keeps serving others', async (t) => {
  const protocolErrors: { from: PeerId; err: UnderstudyError }[] = []
  const [b] = (await nodes(t, 1, {
    messenger: {
      maxFrameBytes: 64 * 1024,
      onProtocolError: (from, err) => protocolErrors.push({ from, err }),
    },
  })) as [MeshNode]
  const [a, c] = (await nodes(t, 2)) as [MeshNode, MeshNode]
  await connect(a, b)
  await connect(c, b)
  const got: string[] = []
  b.services.messenger.handle('seq', (from, payload) =>
    got.push(`${from.equals(a.peerId) ? 'a' : 'c'}:${seqOf(payload)}`),
  )
  b.services.messenger.handleRequest('echo', async (_from, payload) => payload)

  const cases: [bytes: Uint8Array, code: string][] = [
    [lengthPrefixed([9, 1, 1, 0x61]), 'ERR_UNSUPPORTED_VERSION'],
    [lengthPrefixed([1, 77]), 'ERR_MALFORMED_FRAME'],
    [lengthPrefixed([1, 3, 1, 2, 3]), 'ERR_MALFORMED_FRAME'], // a RESPONSE nobody asked for
    [lengthPrefixed([1, 1, 0]), 'ERR_MALFORMED_FRAME'], // an empty topic
    [lengthPrefixed([1, 1, 2, 0xc3, 0x28]), 'ERR_MALFORMED_FRAME'], // a topic that is not UTF-8
    [Uint8Array.from([0x80, 0x80, 0x40]), 'ERR_FRAME_TOO_LARGE'], // announces 1 MiB: refused before it is sent
    [Uint8Array.from([0]), 'ERR_MALFORMED_FRAME'], // an empty frame
  ]
  // A valid message then a REQUEST on the same stream: a message stream cannot turn into a request.
  const valid = encodeTopicFrame('message', topicBytes('seq'), seqPayload(100))
  const request = encodeTopicFrame('request', topicBytes('echo'), new Uint8Array(1))
  const mixed = new Uint8Array(valid.length + request.length)
  mixed.set(valid)
  mixed.set(request, valid.length)
  cases.push([mixed, 'ERR_MALFORMED_FRAME'])

  for (const [bytes, code] of cases) {
    const client = await RawClient.open(a, b)
    t.is(await client.refusedWith(bytes), code, `refused ${Buffer.from(bytes).toString('hex')}`)
  }
  t.is(protocolErrors.length, cases.length)
  for (const { from, err } of protocolErrors) {
    t.true(from.equals(a.peerId))
    t.true(err instanceof UnderstudyError, 'reported as a typed error')
  }
  t.deepEqual(
    protocolErrors.map((p) => p.err.code),
    cases.map(([, code]) => code),
  )
  t.deepEqual(got, ['a:100'], 'the valid message before the bad frame was delivered')

  // Others, and the offender itself, are still served.
  c.services.messenger.send(b.peerId, 'seq', seqPayload(1))
  a.services.messenger.send(b.peerId, 'seq', seqPayload(2))
  await waitFor(() => got.length === 3, 10_000, 'messages after the garbage')
  t.deepEqual(got.slice(1).sort(), ['a:2', 'c:1'])
  t.deepEqual([...(await c.services.messenger.request(b.peerId, 'echo', Uint8Array.of(4, 2)))], [4, 2])
  t.is(b.services.messenger.stats().protocolErrors, cases.length)
})

test('stopping rejects open requests on both ends, drops queued messages and refuses new ones', async (t) => {
  const [a, b, gone] = (await nodes(t, 3)) as [MeshNode, MeshNode, MeshNode]
  await connect(a, b)
  const handlerAborted: unknown[] = []
  const started: string[] = []
  b.services.messenger.handleRequest('slow', (_from, _payload, signal) => {
    started.push('b')
    return new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        handlerAborted.push(signal.reason)
        reject(signal.reason)
      })
    })
  })
  a.services.messenger.handleRequest('slow', (_from, _payload, signal) => {
    started.push('a')
    return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
  })

  // Messages queue for a peer that went away.
  await a.peerStore.merge(gone.peerId, { multiaddrs: gone.getMultiaddrs() })
  await gone.stop()
  t.true(a.services.messenger.send(gone.peerId, 'seq', seqPayload(1)))
  t.true(a.services.messenger.stats().queuedBytes > 0)

  // One request each way, both waiting in their handlers.
  const toA = b.services.messenger.request(a.peerId, 'slow', new Uint8Array(0))
  const toB = a.services.messenger.request(b.peerId, 'slow', new Uint8Array(0))
  toA.catch(() => {})
  toB.catch(() => {})
  await waitFor(() => started.length === 2, 10_000, 'both handlers to start')

  await a.stop()
  const stopped = await t.throwsAsync(toB, { instanceOf: MessengerStoppedError })
  t.false(stopped?.remote)
  const remoteStop = await t.throwsAsync(toA, { instanceOf: MessengerStoppedError })
  t.true(remoteStop?.remote, 'b learns that a is shutting down')
  await waitFor(() => handlerAborted.length === 1, 10_000, "b's handler to be aborted")

  const stats = a.services.messenger.stats()
  t.is(stats.queuedBytes, 0, 'queued messages dropped')
  t.false(a.services.messenger.send(b.peerId, 'seq', seqPayload(2)), 'a stopped messenger refuses to send')
  await t.throwsAsync(a.services.messenger.request(b.peerId, 'slow', new Uint8Array(0)), {
    instanceOf: MessengerStoppedError,
  })
})

test('send and request refuse, at the call, topics and payloads that could never travel', async (t) => {
  const [a, b] = (await nodes(t, 2, { messenger: { maxFrameBytes: 1024 } })) as [MeshNode, MeshNode]
  const m = a.services.messenger
  t.throws(() => m.send(b.peerId, '', new Uint8Array(1)), { instanceOf: InvalidTopicError })
  t.throws(() => m.send(b.peerId, 't'.repeat(129), new Uint8Array(1)), { instanceOf: InvalidTopicError })
  t.throws(() => m.send(b.peerId, 'big', new Uint8Array(1024)), { instanceOf: FrameTooLargeError })
  await t.throwsAsync(m.request(b.peerId, 'big', new Uint8Array(1024)), { instanceOf: FrameTooLargeError })
  t.throws(() => m.handle('x'.repeat(200), () => {}), { instanceOf: InvalidTopicError })
  const off = m.handle('once', () => {})
  t.throws(() => m.handle('once', () => {}), { code: 'ERR_CONFIG' })
  off()
  t.notThrows(() => m.handle('once', () => {}))
  t.false(m.send(a.peerId, 'self', new Uint8Array(1)), 'a node does not message itself')
  t.is(m.stats().dropped, 1)
})
