import test from 'ava'
import { CorruptLogError, DivergenceError, LogEndedError } from '../../../src/errors/index.ts'
import { encodeCall } from '../../../src/replay/log/call-codec.ts'
import { describeEntry } from '../../../src/replay/log/describe.ts'
import { chainNext, GENESIS_HASH, verifyChain } from '../../../src/replay/log/hash-chain.ts'
import { LogBuffer } from '../../../src/replay/log/log-buffer.ts'
import { encodeEntry } from '../../../src/replay/log/log-codec.ts'
import { type EntrySink, Recorder } from '../../../src/replay/log/recorder.ts'
import { Replayer } from '../../../src/replay/log/replayer.ts'
import { EntryKind, type LogEntry } from '../../../src/replay/types.ts'
import {
  bytes,
  digestOf,
  hex,
  never,
  plain,
  record,
  replay,
  SCRIPT,
  type Step,
  sampleEntries,
} from './sample.ts'

const te = new TextEncoder()
function expectedResults(steps: readonly Step[] = SCRIPT): string[] {
  return steps.flatMap((s) => (s.op === 'call' ? [hex(s.result)] : s.op === 'input' ? [hex(s.bytes)] : []))
}

test('a recorded script replays with the recorded results, synchronously', (t) => {
  const marks: LogEntry[] = []
  const replayer = new Replayer({ source: LogBuffer.of(sampleEntries()), onMark: (e) => marks.push(e) })
  t.deepEqual(replay(replayer), expectedResults())
  t.is(replayer.position, SCRIPT.length)
  t.deepEqual(
    marks.map((m) => describeEntry(m)),
    ['checkpoint(state 07070707…)', 'epoch-start(2)'],
  )
  t.is(replayer.finish(), undefined)
})

test('the recorder assigns contiguous seqs, the epoch, and a hash chain from genesis', (t) => {
  const entries = sampleEntries()
  t.deepEqual(
    entries.map((e) => e.seq),
    entries.map((_, i) => i),
  )
  t.is(hex(entries[0]!.prevHash), hex(GENESIS_HASH))
  const epochStart = entries.findIndex((e) => e.kind === EntryKind.EpochStart)
  t.true(entries.slice(0, epochStart).every((e) => e.epoch === 1))
  t.true(entries.slice(epochStart).every((e) => e.epoch === 2))
  const recorder = new Recorder({ sink: new LogBuffer(), epoch: 1 })
  record(recorder)
  t.is(hex(verifyChain(entries).lastHash), hex(recorder.lastHash))
  t.is(recorder.position, entries.length)
})

test('the recorder hands each sink the frame it hashed', (t) => {
  const got: { entry: LogEntry; frame: Uint8Array }[] = []
  const sink: EntrySink = { append: (entry, frame) => got.push({ entry, frame: frame! }) }
  const recorder = new Recorder({ sink })
  recorder.call('clock_time_get', [1, 1000n], () => bytes(1))
  recorder.call('random_get', [16], () => bytes(2))
  t.is(got.length, 2)
  for (const { entry, frame } of got) t.is(hex(frame), hex(encodeEntry(entry)))
  t.is(hex(chainNext(got[0]!.entry.prevHash, got[0]!.frame)), hex(got[1]!.entry.prevHash))
  t.is(hex(chainNext(got[1]!.entry.prevHash, got[1]!.frame)), hex(recorder.lastHash))
})

test('a synchronous live call records without adding a Promise; an async one blocks until it resolves', async (t) => {
  const buffer = new LogBuffer()
  const recorder = new Recorder({ sink: buffer })
  const sync = recorder.call('clock_time_get', [1, 1n], () => bytes(1, 2))
  t.false(sync instanceof Promise)
  t.is(buffer.length, 1)
  let release!: (b: Uint8Array) => void
  const pending = recorder.call('fd_read', [0], () => new Promise<Uint8Array>((r) => (release = r)))
  t.true(pending instanceof Promise)
  t.is(buffer.length, 1, 'nothing is recorded before the live call finishes')
  t.throws(() => recorder.output(1, bytes(1)), { code: 'ERR_TAPE_BUSY' })
  release(te.encode('typed line\n'))
  t.is(hex(await pending), hex(te.encode('typed line\n')))
  t.is(buffer.length, 2)
})

test('replay names the first divergent call with both descriptions', (t) => {
  const replayer = new Replayer({ source: LogBuffer.of(sampleEntries()) })
  replayer.input('start', never)
  const err = t.throws(() => replayer.call('random_get', [16], never), { instanceOf: DivergenceError })
  t.is(err?.seq, 1)
  t.is(err?.expected, 'clock_time_get(1, 1000n)')
  t.is(err?.got, 'random_get(16)')
  t.is(err?.message, 'replay diverged at entry 1: expected clock_time_get(1, 1000n), got random_get(16)')
  // a replay that diverged stays diverged
  t.throws(() => replayer.call('clock_time_get', [1, 1000n], never), { is: err })
})

test('an argument of the wrong value or type is a divergence', (t) => {
  const replayer = new Replayer({ source: LogBuffer.of(sampleEntries()) })
  replayer.input('start', never)
  const err = t.throws(() => replayer.call('clock_time_get', [1, 1000], never), {
    instanceOf: DivergenceError,
  })
  t.is(err?.got, 'clock_time_get(1, 1000)')
  t.is(err?.expected, 'clock_time_get(1, 1000n)')
})

test('a call where the log has another kind of entry is a divergence', (t) => {
  const replayer = new Replayer({ source: LogBuffer.of(sampleEntries()) })
  const err = t.throws(() => replayer.call('clock_time_get', [1, 1000n], never), {
    instanceOf: DivergenceError,
  })
  t.is(err?.seq, 0)
  t.is(err?.expected, 'input("start", 27 bytes)')
})

test('divergent output is caught at the first differing write', (t) => {
  const replayer = new Replayer({ source: LogBuffer.of(sampleEntries()) })
  replay(replayer, SCRIPT.slice(0, 3))
  const err = t.throws(() => replayer.output(1, te.encode('hello, World\n')), { instanceOf: DivergenceError })
  t.is(err?.seq, 3)
  t.regex(err?.expected ?? '', /^output\(stdout, 13 bytes, sha256 [0-9a-f]{8}…\)$/)
  t.regex(err?.got ?? '', /^output\(stdout, 13 bytes "hello, World\\n", sha256 [0-9a-f]{8}…\)$/)
})

test('a different exit code or final state digest is a divergence', (t) => {
  const steps = SCRIPT.slice(0, -1)
  const exitSeq = sampleEntries().length - 1
  const r1 = new Replayer({ source: LogBuffer.of(sampleEntries()) })
  replay(r1, steps)
  const e1 = t.throws(() => r1.exit({ kind: 'exit', code: 0 }, digestOf(9)), { instanceOf: DivergenceError })
  t.is(e1?.seq, exitSeq)
  t.is(e1?.expected, 'exit(code 3, state 09090909…)')
  t.is(e1?.got, 'exit(code 0, state 09090909…)')
  const r2 = new Replayer({ source: LogBuffer.of(sampleEntries()) })
  replay(r2, steps)
  const e2 = t.throws(() => r2.exit({ kind: 'exit', code: 3 }, digestOf(8)), { instanceOf: DivergenceError })
  t.is(e2?.got, 'exit(code 3, state 08080808…)')
})

test('asking past the end of the log says where and what was asked', (t) => {
  const entries = sampleEntries().slice(0, 3)
  const replayer = new Replayer({ source: LogBuffer.of(entries) })
  replay(replayer, SCRIPT.slice(0, 3))
  const err = t.throws(() => replayer.call('fd_read', [0, 1024, 1, 2048], never), {
    instanceOf: LogEndedError,
  })
  t.is(err?.seq, 3)
  t.is(err?.asked, 'fd_read(0, 1024, 1, 2048)')
})

test('a log with entries left after the exit fails finish()', (t) => {
  const entries = sampleEntries()
  const replayer = new Replayer({ source: LogBuffer.of(entries.slice(0, 3)) })
  replayer.input('start', never)
  const err = t.throws(() => replayer.finish(), { instanceOf: DivergenceError })
  t.is(err?.seq, 1)
  t.is(err?.got, 'the end of the run')
})

test('the replayer verifies the chain and names the entry whose prevHash does not match', (t) => {
  const entries = sampleEntries()
  const tampered = entries.map((e) => ({ ...e }))
  tampered[4] = { ...tampered[4]!, payload: encodeCall('fd_read', [0, 1024, 1, 2048], te.encode('forged\n')) }
  const replayer = new Replayer({ source: LogBuffer.of(tampered) })
  const err = t.throws(() => replay(replayer), { instanceOf: CorruptLogError })
  t.is(err?.seq, 5)
  t.regex(err?.message ?? '', /entry 5: prevHash does not match/)
  t.is(replayer.position, 5, 'entry 4 itself decoded fine: only the chain can tell')
})

test('a replayer follows a live recorder through a LogBuffer', async (t) => {
  const buffer = new LogBuffer()
  const recorder = new Recorder({ sink: buffer, epoch: 1 })
  const replayer = new Replayer({ source: buffer.cursor() })
  const waiting = replayer.call('clock_time_get', [1, 1000n], never)
  t.true(waiting instanceof Promise, 'the entry is not there yet')
  recorder.call('clock_time_get', [1, 1000n], () => bytes(4, 2))
  t.is(hex(await waiting), '0402')
  recorder.call('random_get', [4], () => bytes(9, 9, 9, 9))
  const ready = replayer.call('random_get', [4], never)
  t.false(ready instanceof Promise, 'an entry already appended is answered synchronously')
  t.is(hex(ready as Uint8Array), '09090909')
  const tail = replayer.finish()
  buffer.end()
  await tail
  t.is(replayer.position, 2)
  t.is(hex(replayer.lastHash), hex(recorder.lastHash))
})

test('waiting for an entry is cancelled by an AbortSignal', async (t) => {
  const buffer = new LogBuffer()
  const controller = new AbortController()
  const replayer = new Replayer({ source: buffer.cursor({ signal: controller.signal }) })
  const waiting = replayer.call('clock_time_get', [1, 1000n], never)
  t.throws(() => replayer.call('random_get', [1], never), { code: 'ERR_TAPE_BUSY' })
  controller.abort(new Error('promoted'))
  await t.throwsAsync(async () => waiting, { message: 'promoted' })
  t.is(replayer.position, 0, 'nothing was consumed: a successor resumes from here')

  const cursor = buffer.cursor()
  const bounded = new AbortController()
  setTimeout(() => bounded.abort(new Error('no entry within 5 ms')), 5)
  const timeout = cursor.next({ signal: bounded.signal })
  await t.throwsAsync(async () => timeout, { message: 'no entry within 5 ms' })
  buffer.append(sampleEntries()[0]!)
  t.is(cursor.next(), buffer.at(0), 'the cursor is usable again after an aborted wait')
})

test('a cursor that starts ahead of the buffer waits for its own entry', async (t) => {
  const entries = sampleEntries()
  const buffer = new LogBuffer()
  const cursor = buffer.cursor({ from: 2 })
  const pending = cursor.next()
  buffer.append(entries[0]!)
  buffer.append(entries[1]!)
  buffer.append(entries[2]!)
  t.is(await pending, entries[2])
  buffer.end()
  t.is(cursor.next(), undefined)
  t.throws(() => buffer.append(entries[3]!), { code: 'ERR_LOG_CLOSED' })
})

test('a recorder resumed from a replayer continues the same chain in a new epoch', (t) => {
  const entries = sampleEntries()
  const head = entries.slice(0, 5)
  const replayer = new Replayer({ source: LogBuffer.of(head) })
  replay(replayer, SCRIPT.slice(0, 5))
  const buffer = new LogBuffer()
  const successor = new Recorder({ sink: buffer, resume: replayer.snapshot() })
  successor.mark(EntryKind.EpochStart, { epoch: 5 })
  successor.call('clock_time_get', [1, 1000n], () => bytes(1))
  t.is(buffer.at(0)!.seq, 5)
  t.is(buffer.at(1)!.epoch, 5)
  t.notThrows(() => verifyChain([...head, ...buffer.entries]))
  t.throws(() => successor.mark(EntryKind.EpochStart, { epoch: 5 }), { instanceOf: RangeError })
})

test('a sink failure stops the recorder: the log would have a hole', (t) => {
  let fail = false
  const recorder = new Recorder({
    sink: {
      append() {
        if (fail) throw new Error('disk full')
      },
    },
  })
  recorder.call('random_get', [1], () => bytes(1))
  fail = true
  t.throws(() => recorder.call('random_get', [1], () => bytes(2)), { message: 'disk full' })
  fail = false
  t.throws(() => recorder.output(1, bytes(1)), { code: 'ERR_TAPE_FAILED' })
})

test('entries of a replayed log equal the recorded ones', (t) => {
  const entries = sampleEntries()
  const seen: LogEntry[] = []
  const source = LogBuffer.of(entries)
  const replayer = new Replayer({
    source: {
      next() {
        const e = source.next()
        if (e !== undefined && !(e instanceof Promise)) seen.push(e)
        return e
      },
    },
  })
  replay(replayer)
  t.deepEqual(seen.map(plain), entries.map(plain))
})
