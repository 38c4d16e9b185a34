import test from 'ava'
import { CorruptLogError } from '../../../src/errors/index.ts'
import {
  decodeCall,
  decodeExit,
  decodeOutput,
  decodePayload,
  encodeCall,
  encodeExit,
  encodeOutput,
} from '../../../src/replay/log/call-codec.ts'
import { describeCall, describeEntry } from '../../../src/replay/log/describe.ts'
import { GENESIS_HASH } from '../../../src/replay/log/hash-chain.ts'
import { decodeEntry, EntryDecoder, encodeEntry } from '../../../src/replay/log/log-codec.ts'
import { EntryKind, type LogEntry } from '../../../src/replay/types.ts'
import { bytes, digestOf, hex, plain, sampleEntries } from './sample.ts'

function entry(over: Partial<LogEntry> = {}): LogEntry {
  return { seq: 41, epoch: 3, kind: EntryKind.Call, payload: bytes(1, 2, 3), prevHash: digestOf(5), ...over }
}

function corrupt(t: import('ava').ExecutionContext, fn: () => unknown, message: RegExp, seq?: number): void {
  const err = t.throws(fn, { instanceOf: CorruptLogError, message })
  t.is(err?.seq, seq)
}

test('every entry kind survives a frame round trip byte for byte', (t) => {
  const entries = sampleEntries()
  t.deepEqual([...new Set(entries.map((e) => e.kind))].sort(), Object.values(EntryKind).sort())
  for (const e of entries) {
    const frame = encodeEntry(e)
    const back = decodeEntry(frame)
    t.deepEqual(plain(back), plain(e))
    t.is(hex(encodeEntry(back)), hex(frame))
  }
})

test('the frame layout is length, version, kind, seq, epoch, prevHash, payload', (t) => {
  const frame = encodeEntry(entry({ seq: 300, epoch: 2, payload: bytes(9, 8) }))
  // body = version 1 + kind 1 + seq 2 + epoch 1 + hash 32 + payload 2
  t.is(hex(frame.subarray(0, 9)), '00000027' + '01' + '01' + 'ac02' + '02')
  t.is(hex(frame.subarray(9, 41)), hex(digestOf(5)))
  t.is(hex(frame.subarray(41)), '0908')
})

test('every payload kind decodes to what was encoded', (t) => {
  const decoded = sampleEntries().map((e) => decodePayload(e))
  const call = decoded.find((p) => p.kind === EntryKind.Call && p.fn === 'a_custom_import')
  t.like(call, { fn: 'a_custom_import', args: [-5, 2 ** 40, -(2n ** 64n), 2n ** 64n - 1n, 0n] })
  const input = decoded.find((p) => p.kind === EntryKind.Input)
  t.like(input, { name: 'start' })
  const out = decoded.find((p) => p.kind === EntryKind.Output)
  t.like(out, { stream: 1, length: 13 })
  t.deepEqual(decoded.at(-1), {
    kind: EntryKind.Exit,
    outcome: { kind: 'exit', code: 3 },
    stateDigest: digestOf(9),
  })
  t.true(decoded.some((p) => p.kind === EntryKind.Checkpoint && hex(p.stateDigest) === hex(digestOf(7))))
  t.true(decoded.some((p) => p.kind === EntryKind.EpochStart && p.epoch === 2))
})

test('call arguments keep their type: an i32 number and an i64 bigint of the same value differ', (t) => {
  const a = decodeCall(encodeCall('clock_time_get', [1, 1000n], bytes()))
  t.deepEqual(a.args, [1, 1000n])
  t.not(hex(encodeCall('f', [5], bytes())), hex(encodeCall('f', [5n], bytes())))
  for (const v of [
    0,
    -1,
    2 ** 31 - 1,
    -(2 ** 31),
    2 ** 32 - 1,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
  ]) {
    t.deepEqual(decodeCall(encodeCall('f', [v], bytes())).args, [v], `number ${v}`)
  }
  for (const v of [0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, -(2n ** 64n)]) {
    t.deepEqual(decodeCall(encodeCall('f', [v], bytes())).args, [v], `bigint ${v}`)
  }
  t.throws(() => encodeCall('f', [2n ** 64n], bytes()), { instanceOf: RangeError })
  t.throws(() => encodeCall('f', [1.5], bytes()), { instanceOf: RangeError })
})

test('a tabled clock call is a few bytes', (t) => {
  // fn id, argc, two args, 8 result bytes
  t.is(encodeCall('clock_time_get', [1, 1000n], new Uint8Array(8)).length, 1 + 1 + 1 + 2 + 8)
})

test('exit outcomes of every kind round trip', (t) => {
  for (const outcome of [
    { kind: 'exit', code: 0 },
    { kind: 'exit', code: -1 },
    { kind: 'exit', code: 2 ** 32 - 1 },
    { kind: 'trap', message: 'unreachable executed' },
    { kind: 'stack-overflow' },
  ] as const) {
    t.deepEqual(decodeExit(encodeExit({ outcome, stateDigest: digestOf(1) })).outcome, outcome)
  }
})

test('descriptions read like the call the guest made', (t) => {
  t.is(describeCall('clock_time_get', [1, 1000n]), 'clock_time_get(1, 1000n)')
  const [start, clock] = sampleEntries()
  t.is(describeEntry(clock!), 'clock_time_get(1, 1000n) -> 8 bytes')
  t.is(describeEntry(start!), 'input("start", 27 bytes)')
  const out = {
    ...clock!,
    kind: EntryKind.Output,
    payload: encodeOutput({ stream: 1, length: 3, digest: digestOf(0xab) }),
  }
  t.is(describeEntry(out), 'output(stdout, 3 bytes, sha256 abababab…)')
})

test('the strict decoder refuses an unknown frame version', (t) => {
  const frame = encodeEntry(entry())
  frame[4] = 2
  corrupt(t, () => decodeEntry(frame), /frame format v2 was written by a newer understudy/)
  frame[4] = 0
  corrupt(t, () => decodeEntry(frame), /unknown frame format version 0/)
})

test('the strict decoder refuses an unknown kind, naming the seq', (t) => {
  const frame = encodeEntry(entry())
  frame[5] = 9
  corrupt(t, () => decodeEntry(frame), /entry 41: unknown entry kind 9/, 41)
})

test('the strict decoder refuses oversized, short and over-long frames', (t) => {
  const big = encodeEntry(entry({ payload: new Uint8Array(1000) }))
  corrupt(
    t,
    () => decodeEntry(big, { maxPayload: 999 }),
    /entry 41: payload of 1000 bytes exceeds the limit of 999/,
    41,
  )
  corrupt(
    t,
    () => decodeEntry(big, { maxPayload: 100 }),
    /frame: length 1036 exceeds the limit for a 100-byte payload/,
  )
  t.notThrows(() => decodeEntry(big, { maxPayload: 1000 }))
  const frame = encodeEntry(entry())
  corrupt(t, () => decodeEntry(frame.subarray(0, 3)), /frame: 3 bytes, too short for a length field/)
  corrupt(t, () => decodeEntry(frame.subarray(0, frame.length - 1)), /frame: truncated, 38 of its 39 bytes/)
  const long = new Uint8Array(frame.length + 2)
  long.set(frame)
  corrupt(t, () => decodeEntry(long), /2 trailing bytes after the frame/)
  const tiny = Uint8Array.of(0, 0, 0, 5, 1, 1, 0, 0, 0)
  corrupt(t, () => decodeEntry(tiny), /frame: length 5 is below the minimum/)
})

test('the strict decoder refuses bad varints', (t) => {
  // seq 0 written as two bytes (0x80 0x00) is not canonical
  const frame = encodeEntry(entry({ seq: 0 }))
  const padded = new Uint8Array(frame.length + 1)
  padded.set(frame.subarray(0, 6))
  padded.set([0x80, 0x00], 6)
  padded.set(frame.subarray(7), 8)
  new DataView(padded.buffer).setUint32(0, padded.length - 4)
  corrupt(t, () => decodeEntry(padded), /seq varint is not minimally encoded/)
  // nine continuation bytes: longer than any 53-bit varint
  const endless = new Uint8Array(4 + 2 + 9 + 40)
  new DataView(endless.buffer).setUint32(0, endless.length - 4)
  endless.set([1, 1, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81], 4)
  corrupt(t, () => decodeEntry(endless), /seq varint is longer than 8 bytes/)
})

test('payload decoders are strict about trailing bytes and bad UTF-8', (t) => {
  const out = encodeOutput({ stream: 1, length: 3, digest: digestOf(1) })
  const extra = new Uint8Array(out.length + 1)
  extra.set(out)
  t.throws(() => decodeOutput(extra, 12), {
    instanceOf: CorruptLogError,
    message: /entry 12 output payload: 1 unexpected trailing bytes/,
  })
  const badName = Uint8Array.of(0, 2, 0xc3, 0x28, 0)
  t.throws(() => decodeCall(badName, 4), {
    instanceOf: CorruptLogError,
    message: /function name is not valid UTF-8/,
  })
  t.throws(() => decodeCall(Uint8Array.of(200, 1), 4), {
    instanceOf: CorruptLogError,
    message: /unknown function id 200/,
  })
  // 'random_get' written out by name instead of by its table id: a second encoding of the same call
  const literal = Uint8Array.of(0, 10, ...new TextEncoder().encode('random_get'), 0)
  t.throws(() => decodeCall(literal, 4), {
    instanceOf: CorruptLogError,
    message: /is written out but has id 3/,
  })
  t.is(decodeCall(encodeCall('not_in_table', [], bytes())).fn, 'not_in_table')
  t.throws(() => decodeCall(Uint8Array.of(1, 50, 1), 4), {
    instanceOf: CorruptLogError,
    message: /argument count 50/,
  })
})

test('the streaming decoder yields the same entries whatever the chunking', (t) => {
  const entries = sampleEntries()
  const stream = Buffer.concat(entries.map((e) => encodeEntry(e)))
  for (const size of [1, 2, 3, 5, 7, 64, 1000, stream.length]) {
    const decoder = new EntryDecoder()
    const got: LogEntry[] = []
    for (let i = 0; i < stream.length; i += size) got.push(...decoder.push(stream.subarray(i, i + size)))
    decoder.end()
    t.deepEqual(got.map(plain), entries.map(plain), `chunk size ${size}`)
    t.is(decoder.buffered, 0)
  }
})

test('decoded entries do not alias the chunks the caller passed in', (t) => {
  const frame = encodeEntry(entry({ prevHash: GENESIS_HASH }))
  const chunk = Uint8Array.from(frame)
  const [e] = new EntryDecoder().push(chunk)
  chunk.fill(0)
  t.is(hex(e!.payload), '010203')
})

test('the streaming decoder refuses an oversized frame before buffering it', (t) => {
  const decoder = new EntryDecoder({ maxPayload: 1024 })
  const header = Uint8Array.of(0x7f, 0xff, 0xff, 0xff)
  corrupt(t, () => decoder.push(header), /frame: length 2147483647 exceeds the limit/)
  // a failed decoder stays failed
  t.throws(() => decoder.push(bytes(1)), { instanceOf: CorruptLogError })
})

test('a stream that ends inside a frame is reported with the entry it cut', (t) => {
  const entries = sampleEntries()
  const decoder = new EntryDecoder()
  decoder.push(encodeEntry(entries[0]!))
  decoder.push(encodeEntry(entries[1]!).subarray(0, 10))
  corrupt(t, () => decoder.end(), /stream ended inside entry 1 \(10 bytes/, 1)
})
