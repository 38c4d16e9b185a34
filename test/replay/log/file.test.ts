import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import test, { type ExecutionContext } from 'ava'
import { CorruptLogError } from '../../../src/errors/index.ts'
import { LogBuffer } from '../../../src/replay/log/log-buffer.ts'
import { LogFileWriter, parseLogFile, readLogFile } from '../../../src/replay/log/log-file.ts'
import { Recorder } from '../../../src/replay/log/recorder.ts'
import { Replayer } from '../../../src/replay/log/replayer.ts'
import type { LogEntry } from '../../../src/replay/types.ts'
import { hex, plain, record, replay, sampleEntries } from './sample.ts'

interface Record {
  start: number
  frameEnd: number
  end: number
}

const META = {
  moduleHash: 'sha256:abc',
  toolVersion: '0.1.0',
  createdAt: '2026-01-02T03:04:05.000Z',
  argv: ['x'],
}

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'uslog-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function writeSample(
  t: ExecutionContext,
  entries = sampleEntries(),
): Promise<{ path: string; bytes: Buffer }> {
  const path = join(tempDir(t), 'run.uslog')
  const writer = new LogFileWriter(path, { meta: META, bufferBytes: 256 })
  for (const e of entries) writer.append(e)
  await writer.close()
  return { path, bytes: readFileSync(path) }
}

/** Where each entry's record lies, found by walking the lengths (independently of the reader). */
function records(bytes: Uint8Array): { records: Record[]; endRecord: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let pos = 11 + view.getUint32(7) + 4
  const out: Record[] = []
  for (;;) {
    const length = view.getUint32(pos)
    if (length === 0) return { records: out, endRecord: pos }
    out.push({ start: pos, frameEnd: pos + 4 + length, end: pos + 4 + length + 4 })
    pos += 4 + length + 4
  }
}

function expectCorrupt(
  t: ExecutionContext,
  bytes: Uint8Array,
  seq: number | undefined,
  message: RegExp,
): void {
  const err = t.throws(() => parseLogFile(bytes), { instanceOf: CorruptLogError })
  t.regex(err?.message ?? '', message)
  t.is(err?.seq, seq, err?.message)
}

function splice(bytes: Uint8Array, ...parts: [number, number][]): Buffer {
  return Buffer.concat(parts.map(([a, b]) => bytes.subarray(a, b)))
}

test('a written log file reads back with its metadata and every entry', async (t) => {
  const entries = sampleEntries()
  const { path } = await writeSample(t, entries)
  const file = await readLogFile(path)
  t.like(file.meta, META)
  t.true(file.complete)
  t.deepEqual(file.entries.map(plain), entries.map(plain))
})

test('a log file recorded live replays to the end', async (t) => {
  const path = join(tempDir(t), 'live.uslog')
  const writer = new LogFileWriter(path, { now: () => new Date(0) })
  record(new Recorder({ sink: writer }))
  await writer.sync()
  await writer.close()
  const file = await readLogFile(path)
  t.is(file.meta.createdAt, '1970-01-01T00:00:00.000Z')
  const replayer = new Replayer({ source: LogBuffer.of(file.entries) })
  t.is(replay(replayer).length, 8)
  t.is(replayer.finish(), undefined)
  t.is(replayer.position, file.entries.length)
  t.is(hex(replayer.lastHash), hex(file.lastHash))
})

test('an empty log file is complete with no entries', async (t) => {
  const { bytes } = await writeSample(t, [])
  const file = parseLogFile(bytes)
  t.true(file.complete)
  t.deepEqual(file.entries, [])
})

test('a flipped byte in an entry payload is reported at that entry', async (t) => {
  const { bytes } = await writeSample(t)
  const { records: recs } = records(bytes)
  for (const k of [0, 3, recs.length - 1]) {
    const copy = Buffer.from(bytes)
    copy[recs[k]!.frameEnd - 1]! ^= 0x01
    expectCorrupt(t, copy, k, new RegExp(`entry ${k}: checksum mismatch`))
  }
})

test('a flipped byte in an entry header is reported at that entry', async (t) => {
  const { bytes } = await writeSample(t)
  const { records: recs } = records(bytes)
  const k = 4
  for (const offset of [4, 5, 6, 7, 20]) {
    // version, kind, seq, epoch, inside prevHash
    const copy = Buffer.from(bytes)
    copy[recs[k]!.start + offset]! ^= 0x40
    expectCorrupt(t, copy, k, new RegExp(`entry ${k}:`))
  }
  const copy = Buffer.from(bytes)
  copy[recs[k]!.start + 3]! ^= 0x01 // its length field
  expectCorrupt(t, copy, k, new RegExp(`entry ${k}`))
})

test('a removed, duplicated or swapped entry is reported at the first bad seq', async (t) => {
  const { bytes } = await writeSample(t)
  const { records: recs } = records(bytes)
  const k = 5
  const r = (i: number) => recs[i]!
  expectCorrupt(
    t,
    splice(bytes, [0, r(k).start], [r(k).end, bytes.length]),
    k,
    /entry 5: found seq 6 where seq 5/,
  )
  expectCorrupt(
    t,
    splice(bytes, [0, r(k).end], [r(k).start, bytes.length]),
    k + 1,
    /entry 6: found seq 5 where seq 6/,
  )
  expectCorrupt(
    t,
    splice(
      bytes,
      [0, r(k).start],
      [r(k + 1).start, r(k + 1).end],
      [r(k).start, r(k).end],
      [r(k + 1).end, bytes.length],
    ),
    k,
    /entry 5: found seq 6 where seq 5/,
  )
})

test('an entry rewritten with a fresh checksum is caught by the hash chain', async (t) => {
  const { bytes } = await writeSample(t)
  const { records: recs } = records(bytes)
  const forge = (k: number) => {
    const copy = Buffer.from(bytes)
    const { frameEnd } = recs[k]!
    copy[frameEnd - 1]! ^= 0x01
    copy.writeUInt32BE(crc32(copy.subarray(recs[k]!.start, frameEnd)), frameEnd)
    return copy
  }
  // the next entry's prevHash no longer matches
  expectCorrupt(t, forge(2), 3, /entry 3: prevHash does not match .*altered at or before entry 3/)
  // the last entry is covered by the end record's hash
  const last = recs.length - 1
  expectCorrupt(t, forge(last), last, new RegExp(`entry ${last}: does not match the end record's hash`))
})

test('a file truncated inside an entry says which, and allowTruncatedTail returns the prefix', async (t) => {
  const entries = sampleEntries()
  const { bytes } = await writeSample(t, entries)
  const { records: recs } = records(bytes)
  const k = 7
  for (const cut of [recs[k]!.start + 2, recs[k]!.start + 30, recs[k]!.end - 1]) {
    const short = bytes.subarray(0, cut)
    expectCorrupt(t, short, k, new RegExp(`log truncated inside entry ${k}`))
    const file = parseLogFile(short, { allowTruncatedTail: true })
    t.false(file.complete)
    t.regex(file.truncation ?? '', /truncated inside entry 7/)
    t.deepEqual(file.entries.map(plain), entries.slice(0, k).map(plain))
  }
})

test('a file cut at an entry boundary is not mistaken for a complete log', async (t) => {
  const entries = sampleEntries()
  const { bytes } = await writeSample(t, entries)
  const { records: recs, endRecord } = records(bytes)
  expectCorrupt(t, bytes.subarray(0, endRecord), entries.length, /ends after entry 12 without its end record/)
  expectCorrupt(t, bytes.subarray(0, endRecord + 10), entries.length, /truncated inside its end record/)
  const cut = parseLogFile(bytes.subarray(0, recs[3]!.start), { allowTruncatedTail: true })
  t.is(cut.entries.length, 3)
  t.false(cut.complete)
  // removing entries from the end but keeping the end record is damage, not truncation
  const dropped = splice(bytes, [0, recs[11]!.start], [endRecord, bytes.length])
  t.throws(() => parseLogFile(dropped, { allowTruncatedTail: true }), {
    instanceOf: CorruptLogError,
    message: /end record counts 13 entries but the log holds 11/,
  })
})

test('a writer that never closed leaves a log that crash recovery can read', async (t) => {
  const entries = sampleEntries()
  const path = join(tempDir(t), 'crash.uslog')
  const writer = new LogFileWriter(path)
  for (const e of entries.slice(0, 6)) writer.append(e)
  await writer.sync()
  writer.append(entries[6]!) // buffered only: lost in the "crash"
  writer.abandon()
  await t.throwsAsync(readLogFile(path), {
    instanceOf: CorruptLogError,
    message: /after entry 5 without its end record/,
  })
  const file = await readLogFile(path, { allowTruncatedTail: true })
  t.deepEqual(file.entries.map(plain), entries.slice(0, 6).map(plain))
})

test('a file from a newer understudy is refused with a clear message', async (t) => {
  const { bytes } = await writeSample(t)
  const copy = Buffer.from(bytes)
  copy.writeUInt16BE(2, 5)
  expectCorrupt(t, copy, undefined, /written by a newer understudy \(format v2; this one reads v1\); upgrade/)
})

test('a damaged header or a foreign file is refused', async (t) => {
  const { bytes } = await writeSample(t)
  const copy = Buffer.from(bytes)
  copy[20]! ^= 0x02 // inside the metadata JSON
  expectCorrupt(t, copy, undefined, /log file header: checksum mismatch/)
  expectCorrupt(t, Buffer.from('{"not":"a log"}'), undefined, /not an understudy log/)
  expectCorrupt(t, bytes.subarray(0, 9), undefined, /truncated/)
})

test('the writer refuses entries out of order', (t) => {
  const entries = sampleEntries()
  const writer = new LogFileWriter(join(tempDir(t), 'order.uslog'), { exclusive: true })
  writer.append(entries[0]!)
  t.throws(() => writer.append(entries[2]!), { instanceOf: CorruptLogError, message: /entry 1 comes next/ })
  writer.abandon()
})

test('an exclusive writer does not overwrite an existing file', (t) => {
  const path = join(tempDir(t), 'exists.uslog')
  writeFileSync(path, 'keep me')
  t.throws(() => new LogFileWriter(path, { exclusive: true }), { code: 'EEXIST' })
  t.is(readFileSync(path, 'utf8'), 'keep me')
})

test('large entries are written around the buffer and read back', async (t) => {
  const big: LogEntry[] = []
  const buffer = new LogBuffer()
  const recorder = new Recorder({ sink: buffer })
  recorder.input('disk', () => new Uint8Array(300_000).map((_, i) => i % 251))
  recorder.call('random_get', [8], () => new Uint8Array(8))
  big.push(...buffer.entries)
  const { bytes } = await writeSample(t, big)
  t.deepEqual(parseLogFile(bytes).entries.map(plain), big.map(plain))
  t.throws(() => parseLogFile(bytes, { maxPayload: 1000 }), {
    instanceOf: CorruptLogError,
    message: /entry 0/,
  })
})
