/** A receiver facing a broken or hostile sender over a real libp2p stream, and a sender facing a dead receiver. */
import type { Stream } from '@libp2p/interface'
import test from 'ava'
import { LogStreamError } from '../../src/mesh/errors.ts'
import { FrameReader } from '../../src/mesh/framing.ts'
import type { MeshNode } from '../../src/mesh/index.ts'
import { decodeFrame, encodeFrame, type Frame } from '../../src/mesh/log-stream/codec.ts'
import {
  connect,
  MemoryLog,
  prng,
  RecordingStore,
  randomBytes,
  startNodes,
  stopAll,
  waitFor,
} from './helpers.ts'

const PROTOCOL = '/understudy/log/1.0.0'
const limits = { maxEntryBytes: 1 << 20, maxBatchEntries: 4096 }

async function pair(t: { teardown(fn: () => unknown): void }): Promise<[MeshNode, MeshNode]> {
  const nodes = await startNodes(2, {
    logStream: { heartbeatInterval: 50, peerTimeout: 500, handshakeTimeout: 1000 },
  })
  t.teardown(() => stopAll(nodes))
  const [a, b] = nodes as [MeshNode, MeshNode]
  await connect(a, b)
  return [a, b]
}

/** A raw client: collects the frames the receiver answers with, and whether it closed the stream. */
class RawClient {
  readonly frames: Frame[] = []
  readonly undecodable: string[] = []
  closed = false
  private readonly reader = new FrameReader(1 << 20)
  readonly stream: Stream

  constructor(stream: Stream) {
    this.stream = stream
    stream.addEventListener('message', (evt) => {
      try {
        for (const body of this.reader.push(evt.data)) this.frames.push(decodeFrame(body, limits))
      } catch (err) {
        this.undecodable.push(String(err))
      }
    })
    stream.addEventListener('close', () => {
      this.closed = true
    })
  }

  static async open(from: MeshNode, to: MeshNode): Promise<RawClient> {
    return new RawClient(await from.dialProtocol(to.peerId, PROTOCOL))
  }

  send(bytes: Uint8Array): void {
    // The receiver may already have refused and reset the stream; the rest is moot.
    if (this.stream.writeStatus !== 'writable') return
    this.stream.send(bytes)
  }

  async waitFrame(type: Frame['type']): Promise<Frame> {
    await waitFor(() => this.frames.some((f) => f.type === type), 3000, `a ${type} frame`)
    return this.frames.find((f) => f.type === type) as Frame
  }

  /** The receiver must answer with an ERROR frame carrying `code` and close the stream. */
  async expectRefusal(code: string): Promise<void> {
    await waitFor(() => this.closed, 3000, 'the receiver to close the stream')
    const errors = this.frames.filter((f) => f.type === 'error')
    if (errors.length !== 1 || errors[0]?.type !== 'error' || errors[0].code !== code) {
      throw new Error(`expected one ERROR ${code}, got ${JSON.stringify(this.frames.map((f) => f.type))}`)
    }
  }
}

const hello = (epoch = 1, logId = 'w'): Uint8Array => encodeFrame({ type: 'hello', logId, epoch })
const batch = (firstSeq: number, count: number, size = 8, epoch = 1): Uint8Array =>
  encodeFrame({
    type: 'batch',
    epoch,
    commitSeq: -1,
    entries: Array.from({ length: count }, (_, i) => ({
      seq: firstSeq + i,
      epoch,
      bytes: new Uint8Array(size),
    })),
  })

test('malformed frames close the stream with the typed error, and the receiver stays up', async (t) => {
  const [a, b] = await pair(t)
  const store = new RecordingStore()
  const ends: string[] = []
  const receiver = b.services.logStream.receive('w', {
    store: store.store,
    windowBytes: 4096,
    onSessionEnd: (err) => ends.push(err.code),
  })

  const cases: Array<[string, (c: RawClient) => Promise<void> | void, string]> = [
    ['garbage before HELLO', (c) => c.send(Uint8Array.of(3, 9, 9, 9)), 'ERR_UNSUPPORTED_VERSION'],
    ['unknown frame type', (c) => c.send(Uint8Array.of(2, 1, 77)), 'ERR_MALFORMED_FRAME'],
    [
      'a 2 GiB frame length',
      (c) => c.send(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x08)),
      'ERR_FRAME_TOO_LARGE',
    ],
    ['a BATCH instead of HELLO', (c) => c.send(batch(0, 1)), 'ERR_MALFORMED_FRAME'],
    [
      'a BATCH that skips seqs',
      async (c) => {
        c.send(hello())
        await c.waitFrame('welcome')
        c.send(batch(5, 1))
      },
      'ERR_OUT_OF_ORDER',
    ],
    [
      'a BATCH beyond the granted window',
      async (c) => {
        c.send(hello())
        await c.waitFrame('welcome')
        c.send(batch(0, 5, 1000))
      },
      'ERR_WINDOW_EXCEEDED',
    ],
    [
      'a BATCH whose epoch differs from HELLO',
      async (c) => {
        c.send(hello(1))
        await c.waitFrame('welcome')
        c.send(batch(0, 1, 8, 2))
      },
      'ERR_MALFORMED_FRAME',
    ],
    [
      'a second HELLO',
      async (c) => {
        c.send(hello())
        await c.waitFrame('welcome')
        c.send(hello())
      },
      'ERR_MALFORMED_FRAME',
    ],
    ['an unknown log', (c) => c.send(hello(1, 'nope')), 'ERR_UNKNOWN_LOG'],
  ]
  for (const [name, act, code] of cases) {
    const client = await RawClient.open(a, b)
    await act(client)
    try {
      await client.expectRefusal(code)
    } catch (err) {
      t.fail(`${name}: ${(err as Error).message}`)
    }
  }
  t.deepEqual(store.seqs, [], 'nothing from a bad stream was stored')

  // Valid entries before a bad frame are stored; nothing after it.
  const client = await RawClient.open(a, b)
  client.send(hello())
  await client.waitFrame('welcome')
  client.send(batch(0, 5))
  client.send(Uint8Array.of(4, 1, 3, 0xff)) // a truncated BATCH
  client.send(batch(5, 5))
  await client.expectRefusal('ERR_MALFORMED_FRAME')
  await waitFor(() => receiver.nextSeq === 5, 2000, 'the valid prefix to be stored')
  t.deepEqual(store.seqs, [0, 1, 2, 3, 4])

  // The receiver still serves a well-behaved sender, which resumes after the valid prefix.
  const log = new MemoryLog()
  log.fill(20, 8)
  const resumedAt: number[] = []
  const sender = a.services.logStream.send(b.peerId, {
    logId: 'w',
    epoch: 1,
    readFrom: log.readFrom,
    onConnect: (s) => resumedAt.push(s.nextSeq),
  })
  t.teardown(() => sender.stop())
  await sender.waitForAck(19, { signal: AbortSignal.timeout(5000) })
  t.deepEqual(resumedAt, [5])
  t.deepEqual(
    store.seqs,
    Array.from({ length: 20 }, (_, i) => i),
  )
  // The receiver's owner heard why each attached stream ended.
  for (const code of ['ERR_OUT_OF_ORDER', 'ERR_WINDOW_EXCEEDED', 'ERR_MALFORMED_FRAME'])
    t.true(ends.includes(code), code)
})

test('seeded fuzz: a live receiver fed garbage stays up and stores only a valid, contiguous log', async (t) => {
  const [a, b] = await pair(t)
  const store = new RecordingStore()
  const receiver = b.services.logStream.receive('w', { store: store.store })
  const seed = 0xbad5eed
  const random = prng(seed)
  const ends = new Map<string, number>()
  let sessions = 0

  for (let round = 0; round < 150; round++) {
    const client = await RawClient.open(a, b)
    const parts: Uint8Array[] = []
    if (random() < 0.6) {
      // A proper start, so the garbage reaches the streaming state too.
      client.send(hello(receiver.highestEpoch + (random() < 0.2 ? 1 : 0)))
      await waitFor(() => client.closed || client.frames.length > 0, 3000, 'WELCOME')
    }
    const frames = 1 + Math.floor(random() * 4)
    for (let f = 0; f < frames; f++) {
      const valid = batch(receiver.nextSeq, 1 + Math.floor(random() * 3), 8, receiver.highestEpoch)
      const r = random()
      if (r < 0.4) {
        parts.push(randomBytes(random, 1 + Math.floor(random() * 30)))
      } else {
        const mutated = Uint8Array.from(valid)
        const flips = Math.floor(random() * 3)
        for (let i = 0; i < flips; i++)
          mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256)
        parts.push(mutated)
      }
    }
    for (const part of parts) client.send(part)
    if (client.stream.writeStatus === 'writable') await client.stream.close() // so a half-sent frame ends the round instead of waiting for a timeout
    try {
      await waitFor(() => client.closed, 3000, `round ${round} to end`)
    } catch (err) {
      t.fail(`seed ${seed} round ${round}: ${(err as Error).message}`)
      return
    }
    sessions++
    const code = client.frames.find((f) => f.type === 'error')
    const key = code?.type === 'error' ? code.code : 'closed without error frame'
    ends.set(key, (ends.get(key) ?? 0) + 1)
  }
  t.log(
    `seed ${seed}: ${sessions} hostile streams, ${receiver.nextSeq} entries stored, ended by`,
    Object.fromEntries(ends),
  )
  t.deepEqual(store.gapsAndDuplicates(receiver.nextSeq), { missing: [], duplicates: [] })
  t.deepEqual(
    store.seqs,
    Array.from({ length: receiver.nextSeq }, (_, i) => i),
  )
  const epochs = store.calls.flat().map((e) => e.epoch)
  t.true(
    epochs.every((e, i) => i === 0 || e >= (epochs[i - 1] ?? 0)),
    'stored epochs never go backwards',
  )
  t.true(ends.size >= 3, 'the fuzzer hit several kinds of refusal')
  t.true(receiver.nextSeq > 0, 'some rounds got valid entries through')

  // Still serving: a well-behaved sender at the current epoch continues the log.
  const from = receiver.nextSeq
  const epoch = receiver.highestEpoch
  const sender = a.services.logStream.send(b.peerId, {
    logId: 'w',
    epoch,
    readFrom: (seq) =>
      (async function* () {
        for (let i = seq; i < from + 10; i++) yield { seq: i, epoch, bytes: new Uint8Array(4) }
      })(),
  })
  t.teardown(() => sender.stop())
  await sender.waitForAck(from + 9, { signal: AbortSignal.timeout(5000) })
  t.is(receiver.nextSeq, from + 10)
})

test('a receiver that goes silent is dropped by the sender after the peer timeout', async (t) => {
  const [a, b] = await pair(t)
  // A fake receiver: welcomes, then never says another word (a frozen process).
  await b.handle(
    '/understudy/log/1.0.0',
    (stream) => {
      stream.send(
        encodeFrame({
          type: 'welcome',
          nextSeq: 0,
          lastEpoch: 0,
          highestEpoch: 1,
          windowBytes: 1 << 20,
          windowEntries: 1000,
        }),
      )
    },
    { force: true },
  )
  const log = new MemoryLog()
  log.fill(10, 8)
  const disconnects: LogStreamError[] = []
  const started = Date.now()
  const sender = a.services.logStream.send(b.peerId, {
    logId: 'w',
    epoch: 1,
    readFrom: log.readFrom,
    onDisconnect: (err) => disconnects.push(err),
  })
  t.teardown(() => sender.stop())
  await waitFor(() => disconnects.length > 0, 3000, 'the timeout')
  t.is(disconnects[0]?.code, 'ERR_PEER_TIMEOUT')
  t.false(disconnects[0]?.remote)
  t.true(Date.now() - started >= 500)
  t.is(sender.ackedSeq, -1)
})

test('a sender that goes silent is dropped by the receiver after the peer timeout', async (t) => {
  const [a, b] = await pair(t)
  const ends: LogStreamError[] = []
  b.services.logStream.receive('w', { store: async () => {}, onSessionEnd: (err) => ends.push(err) })
  const client = await RawClient.open(a, b)
  client.send(hello())
  await client.waitFrame('welcome')
  await waitFor(() => ends.length > 0, 3000, 'the timeout')
  t.is(ends[0]?.code, 'ERR_PEER_TIMEOUT')
  t.true(ends[0] instanceof LogStreamError)
  await waitFor(() => client.closed, 3000, 'the stream to close')
})
