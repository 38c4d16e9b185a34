import test from 'ava'
import { LogStreamError } from '../../src/mesh/errors.ts'
import { FrameReader, lengthPrefixed } from '../../src/mesh/framing.ts'
import { decodeFrame, encodeFrame, type Frame } from '../../src/mesh/log-stream/codec.ts'
import { prng, randomBytes } from './helpers.ts'

const limits = { maxEntryBytes: 1024, maxBatchEntries: 64 }
const MAX_FRAME = 64 * 1024

const samples: Frame[] = [
  { type: 'hello', logId: 'workload/ä-1', epoch: 7 },
  {
    type: 'welcome',
    nextSeq: 2 ** 40,
    lastEpoch: 3,
    highestEpoch: 9,
    windowBytes: 1 << 20,
    windowEntries: 100,
  },
  {
    type: 'batch',
    epoch: 5,
    commitSeq: -1,
    entries: [
      { seq: 300, epoch: 4, bytes: new Uint8Array([1, 2, 3]) },
      { seq: 301, epoch: 5, bytes: new Uint8Array(0) },
      { seq: 302, epoch: 5, bytes: new Uint8Array(1024).fill(0xee) },
    ],
  },
  { type: 'heartbeat', epoch: 5, commitSeq: 299, headSeq: 303 },
  { type: 'ack', nextSeq: 0 },
  { type: 'error', code: 'ERR_STALE_EPOCH', message: 'epoch 1 is older than epoch 2 — refusé' },
]

/** Strips the length prefix of an encoded frame. */
function body(frame: Frame): Uint8Array {
  const reader = new FrameReader(MAX_FRAME)
  const bodies = reader.push(encodeFrame(frame))
  if (bodies.length !== 1 || bodies[0] === undefined) throw new Error('expected one frame')
  return bodies[0]
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    if (err instanceof LogStreamError) return err.code
    throw err
  }
  return undefined
}

test('every frame type survives encode and decode unchanged', (t) => {
  for (const frame of samples) t.deepEqual(decodeFrame(body(frame), limits), frame)
})

test('frames cut into one-byte chunks are reassembled in order', (t) => {
  const wire = new Uint8Array(samples.reduce((n, f) => n + encodeFrame(f).byteLength, 0))
  let offset = 0
  for (const frame of samples) {
    const bytes = encodeFrame(frame)
    wire.set(bytes, offset)
    offset += bytes.byteLength
  }
  const reader = new FrameReader(MAX_FRAME)
  const decoded: Frame[] = []
  for (let i = 0; i < wire.byteLength; i++) {
    for (const b of reader.push(wire.subarray(i, i + 1))) decoded.push(decodeFrame(b, limits))
  }
  t.deepEqual(decoded, samples)
  t.is(reader.buffered, 0)
})

test('an oversized frame is refused from its length prefix alone', (t) => {
  const reader = new FrameReader(1000)
  // 1001 as a varint, and no body at all: the reader must not wait for (or buffer) it.
  t.is(
    codeOf(() => reader.push(new Uint8Array([0xe9, 0x07]))),
    'ERR_FRAME_TOO_LARGE',
  )
})

test('the framing refuses empty frames and non-minimal or endless length varints', (t) => {
  t.is(
    codeOf(() => new FrameReader(MAX_FRAME).push(new Uint8Array([0]))),
    'ERR_MALFORMED_FRAME',
  )
  t.is(
    codeOf(() => new FrameReader(MAX_FRAME).push(new Uint8Array([0x81, 0x00]))),
    'ERR_MALFORMED_FRAME',
  )
  t.is(
    codeOf(() => new FrameReader(2 ** 40).push(new Uint8Array(9).fill(0x80))),
    'ERR_MALFORMED_FRAME',
  )
})

test('the decoder refuses what a correct peer never sends, each with its code', (t) => {
  const batch = body(samples[2] as Frame)
  const cases: Array<[string, Uint8Array, string]> = [
    ['unknown version', Uint8Array.of(2, 5, 0), 'ERR_UNSUPPORTED_VERSION'],
    ['unknown type', Uint8Array.of(1, 99), 'ERR_MALFORMED_FRAME'],
    ['truncated batch', batch.subarray(0, batch.byteLength - 1), 'ERR_MALFORMED_FRAME'],
    ['trailing bytes', Uint8Array.of(...body({ type: 'ack', nextSeq: 1 }), 0), 'ERR_MALFORMED_FRAME'],
    ['non-minimal varint', Uint8Array.of(1, 5, 0x81, 0x00), 'ERR_MALFORMED_FRAME'],
    [
      'varint beyond 2^53',
      Uint8Array.of(1, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
      'ERR_MALFORMED_FRAME',
    ],
    ['empty batch', Uint8Array.of(1, 3, 1, 0, 0, 0), 'ERR_MALFORMED_FRAME'],
    ['too many entries', Uint8Array.of(1, 3, 1, 0, 0, 65), 'ERR_FRAME_TOO_LARGE'],
    ['oversized entry', Uint8Array.of(1, 3, 1, 0, 0, 1, 1, 0x81, 0x08), 'ERR_FRAME_TOO_LARGE'],
    ['entry epoch above batch epoch', Uint8Array.of(1, 3, 1, 0, 0, 1, 2, 0), 'ERR_MALFORMED_FRAME'],
    ['entry epochs going backwards', Uint8Array.of(1, 3, 3, 0, 0, 2, 2, 0, 1, 0), 'ERR_MALFORMED_FRAME'],
    ['entry longer than the frame', Uint8Array.of(1, 3, 1, 0, 0, 1, 1, 5, 1, 2), 'ERR_MALFORMED_FRAME'],
    ['empty log id', Uint8Array.of(1, 1, 0, 1), 'ERR_MALFORMED_FRAME'],
    ['log id not UTF-8', Uint8Array.of(1, 1, 1, 0xff, 1), 'ERR_MALFORMED_FRAME'],
    ['lowercase error code', Uint8Array.of(1, 6, 1, 0x61, 0), 'ERR_MALFORMED_FRAME'],
    ['empty window', Uint8Array.of(1, 2, 0, 0, 0, 0, 1), 'ERR_MALFORMED_FRAME'],
  ]
  for (const [name, bytes, code] of cases)
    t.is(
      codeOf(() => decodeFrame(bytes, limits)),
      code,
      name,
    )
})

test('seeded fuzz: the decoder only ever returns a frame that re-encodes identically, or a typed error', (t) => {
  const seed = 0x5eed_1234
  const random = prng(seed)
  const valid = samples.map(body)
  let decoded = 0
  let refused = 0
  for (let round = 0; round < 20_000; round++) {
    let bytes: Uint8Array
    const pick = random()
    if (pick < 0.3) {
      bytes = randomBytes(random, Math.floor(random() * 40))
      if (bytes.byteLength > 0 && random() < 0.7) bytes[0] = 1 // mostly the right version, to reach deeper
    } else {
      // Mutate a valid frame: flip, insert, delete or truncate bytes.
      const base = valid[Math.floor(random() * valid.length)] as Uint8Array
      const copy = Array.from(base)
      const edits = 1 + Math.floor(random() * 3)
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * (copy.length + 1))
        const op = random()
        if (op < 0.4 && copy.length > 0) copy[at % copy.length] = Math.floor(random() * 256)
        else if (op < 0.6) copy.splice(at, 0, Math.floor(random() * 256))
        else if (op < 0.8 && copy.length > 0) copy.splice(at % copy.length, 1)
        else copy.length = Math.min(copy.length, at)
      }
      bytes = Uint8Array.from(copy)
    }
    let frame: Frame
    try {
      frame = decodeFrame(bytes, limits)
    } catch (err) {
      if (!(err instanceof LogStreamError)) {
        t.fail(
          `seed ${seed} round ${round}: untyped ${String(err)} for ${Buffer.from(bytes).toString('hex')}`,
        )
        return
      }
      refused++
      continue
    }
    decoded++
    const again = encodeFrame(frame)
    if (Buffer.compare(Buffer.from(again), Buffer.from(lengthPrefixed(bytes))) !== 0) {
      t.fail(
        `seed ${seed} round ${round}: ${Buffer.from(bytes).toString('hex')} decoded but re-encodes differently`,
      )
      return
    }
  }
  t.log(`decoded ${decoded}, refused ${refused}`)
  t.true(decoded > 100, 'the fuzzer reaches valid frames too')
  t.true(refused > 10_000)
})

test('seeded fuzz: the frame reader never throws untyped errors nor holds more than one frame', (t) => {
  const random = prng(42)
  for (let round = 0; round < 2000; round++) {
    const reader = new FrameReader(256)
    try {
      for (let chunk = 0; chunk < 20; chunk++) {
        reader.push(randomBytes(random, Math.floor(random() * 64)))
        t.true(reader.buffered <= 256 + 8, `round ${round}: buffered ${reader.buffered}`)
      }
    } catch (err) {
      if (!(err instanceof LogStreamError)) t.fail(`round ${round}: untyped ${String(err)}`)
    }
  }
})
