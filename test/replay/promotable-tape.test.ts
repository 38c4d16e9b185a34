/**
 * Promotion in one process: a replica replays a kv guest's committed log as it is
 * fed, then goes live with the same guest instance, continuing the hash chain; the
 * result is checked against a reference run and against a plain replay of the
 * combined log. Plus the tape's rules (feed order, marks, divergence, epochs), the
 * epoch-start entry the group layer builds, and clocks that never go back.
 */
import { readFile } from 'node:fs/promises'
import { setImmediate } from 'node:timers/promises'
import test, { type ExecutionContext } from 'ava'
import { buildGuest } from '../../scripts/build-guests.ts'
import {
  AbandonedCallError,
  CorruptLogError,
  DivergenceError,
  FeedOrderError,
  PromotionError,
} from '../../src/errors/index.ts'
import {
  decodeCall,
  encodeCall,
  encodeEntry,
  epochStartFrame,
  HashChain,
  LogBuffer,
  Recorder,
  Replayer,
  verifyChain,
} from '../../src/replay/log/index.ts'
import { PromotableTape } from '../../src/replay/promotable-tape.ts'
import { EntryKind, type LogEntry } from '../../src/replay/types.ts'
import { LiveClocks, type TimeSource } from '../../src/replay/wasi/index.ts'
import { runReference } from '../guests/reference-runtime.ts'
import {
  bootGuest,
  EntryLog,
  kvRequests,
  LineCollector,
  LineFeed,
  prng,
  steppingTime,
  tempDir,
} from './promotion-harness.ts'

const kvPath = await buildGuest('kv')
const kv = new Uint8Array(await readFile(kvPath))
const te = new TextEncoder()
const td = new TextDecoder()
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const never = (): never => {
  throw new Error('a replayed call ran live')
}
const REALTIME = 0
const MONOTONIC = 1

/** Records kv live answering `requests[0..upTo)`, one at a time; `boundaries[i]` = log length after reply i+1. */
async function recordKv(requests: readonly string[], upTo: number, epoch: number, time?: TimeSource) {
  const log = new EntryLog()
  const boundaries: number[] = []
  const out = new LineCollector(() => boundaries.push(log.entries.length))
  const stdin = new LineFeed()
  const tape = new Recorder({ sink: log, epoch })
  const { machine } = await bootGuest(kv, tape, { stdin, stdout: out.sink, ...(time ? { time } : {}) })
  const run = machine.run()
  for (let i = 0; i < upTo; i++) {
    stdin.push(requests[i]!)
    await out.lines(i + 1)
  }
  stdin.end()
  const result = await run
  return { log, boundaries, out, result }
}

/** Resolves once the tape waits with nothing left to consume. */
function caughtUp(tape: PromotableTape, onWait: Set<() => void>): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!tape.waiting || tape.backlog > 0) return
      onWait.delete(check)
      resolve()
    }
    onWait.add(check)
    check()
  })
}

function waitHooks() {
  const listeners = new Set<() => void>()
  const onWait = () => {
    for (const l of [...listeners]) l()
  }
  return { listeners, onWait }
}

/** Splits entries into 2–5 chunks (the first may be empty; the last holds at least two entries). */
function chunks(entries: readonly LogEntry[], rnd: (n: number) => number): LogEntry[][] {
  const count = 2 + rnd(4)
  const cuts = Array.from({ length: count - 1 }, () => rnd(entries.length - 1)).sort((a, b) => a - b)
  const out: LogEntry[][] = []
  let from = 0
  for (const cut of cuts) {
    out.push(entries.slice(from, Math.max(from, cut)))
    from = Math.max(from, cut)
  }
  out.push(entries.slice(from))
  return out
}

function lastCallBefore(entries: readonly LogEntry[], fn: string, end: number): number {
  for (let i = end - 1; i >= 0; i--) {
    const e = entries[i]!
    if (e.kind === EntryKind.Call && decodeCall(e.payload, e.seq).fn === fn) return i
  }
  throw new Error(`no ${fn} before entry ${end}`)
}

/** Replays `entries` from scratch with a plain Replayer; returns the run result and stdout. */
async function replayAll(entries: readonly LogEntry[]) {
  const out = new LineCollector()
  const replayer = new Replayer({ source: LogBuffer.of(entries) })
  const { machine } = await bootGuest(kv, replayer, { stdout: out.sink })
  const result = await machine.run()
  await replayer.finish()
  return { result, text: out.text }
}

async function reference(t: ExecutionContext, requests: readonly string[]): Promise<string> {
  const dir = await tempDir(t)
  const run = await runReference(kvPath, {
    args: ['/data'],
    dirs: { '/data': dir },
    stdin: `${requests.join('\n')}\n`,
  })
  t.is(run.exitCode, 0, run.stderr)
  return run.stdout
}

interface PromotionCase {
  seed: number
  /** Replies the old primary gave before it was cut off. */
  replied: number
  total: number
  /** When goLive is called: before the guest boots, while it still has entries to replay, or once it waits. */
  when: 'before-boot' | 'running' | 'blocked'
  /** Cut the log inside the last request (after its read, up to its reply) rather than at the reply. */
  midRequest: boolean
}

const cases: PromotionCase[] = [
  { seed: 1, replied: 1, total: 4, when: 'blocked', midRequest: false },
  { seed: 2, replied: 3, total: 8, when: 'running', midRequest: true },
  { seed: 3, replied: 7, total: 12, when: 'before-boot', midRequest: false },
  { seed: 4, replied: 12, total: 20, when: 'blocked', midRequest: true },
  { seed: 5, replied: 20, total: 26, when: 'running', midRequest: false },
  { seed: 6, replied: 5, total: 9, when: 'before-boot', midRequest: true },
]

for (const c of cases) {
  test(`a replica fed ${c.replied} replies' log in chunks goes live (${c.when}${c.midRequest ? ', cut mid-request' : ''}) and ends like one run (seed ${c.seed})`, async (t) => {
    const requests = kvRequests(c.seed, c.total)
    const rnd = prng(c.seed * 7919)
    const old = await recordKv(requests, c.replied, 1)
    const boundary = old.boundaries[c.replied - 1]!
    const lastRead = lastCallBefore(old.log.entries, 'fd_read', boundary)
    const cut = c.midRequest ? lastRead + 1 + rnd(boundary - lastRead) : boundary
    const epochStart = epochStartFrame(2, old.log.frames[cut - 1]!)
    const fed = [...old.log.entries.slice(0, cut), epochStart.entry]
    const parts = chunks(fed, rnd)

    const hooks = waitHooks()
    const modeChanges: string[] = []
    const tape = new PromotableTape({ onWait: hooks.onWait, onModeChange: (m) => modeChanges.push(m) })
    const readModes: string[] = []
    const stdin = new LineFeed(() => readModes.push(tape.mode))
    // the new primary's clients resend what was not answered; it is there all along, and must not be read in replay
    stdin.push(...requests.slice(c.replied))
    stdin.end()
    const out = new LineCollector()
    const live = new EntryLog()
    const goLive = () => tape.goLive({ sink: live, epoch: 2 })

    for (const e of parts[0]!) tape.feed(e)
    if (c.when === 'before-boot') {
      for (const part of parts.slice(1)) for (const e of part) tape.feed(e)
      goLive()
      t.is(tape.mode, 'replay', 'the switch waits until the fed entries are consumed')
    }
    const run = bootGuest(kv, tape, { stdin, stdout: out.sink }).then(({ machine }) => machine.run())
    if (c.when !== 'before-boot') {
      for (const [i, part] of parts.slice(1).entries()) {
        await caughtUp(tape, hooks.listeners)
        t.is(tape.mode, 'replay')
        for (const e of part) tape.feed(e)
        if (c.when === 'running' && i === parts.length - 2) {
          goLive()
          t.is(tape.mode, 'replay', 'entries are left to replay')
          t.true(tape.backlog > 0)
        }
      }
      if (c.when === 'blocked') {
        await caughtUp(tape, hooks.listeners)
        t.is(tape.position, cut + 1, 'the trailing epoch start was consumed while waiting')
        goLive()
        t.is(tape.mode, 'record', 'nothing left to replay: live at once')
      }
    }
    const result = await run
    t.is(result.kind, 'ended')
    t.deepEqual(result.kind === 'ended' && result.outcome, { kind: 'exit', code: 0 })
    t.deepEqual(modeChanges, ['record'])
    t.true(readModes.length > 0)
    t.true(
      readModes.every((m) => m === 'record'),
      'stdin is read only live',
    )

    t.is(out.text, await reference(t, requests))
    t.is(live.entries[0]!.seq, cut + 1)
    t.true(live.entries.every((e) => e.epoch === 2))
    const combined = [...fed, ...live.entries]
    t.notThrows(() => verifyChain(combined))
    t.is(hex(tape.lastHash), hex(verifyChain(combined).lastHash))
    const again = await replayAll(combined)
    t.is(
      result.kind === 'ended' && hex(result.digest),
      again.result.kind === 'ended' && hex(again.result.digest),
    )
    t.is(again.text, out.text)
  })
}

test('goLive while the guest is blocked reading stdin: that same read runs live', async (t) => {
  const requests = ['SET a 1', 'INCR a 41', 'GET a']
  const old = await recordKv(requests, 3, 4)
  const cut = old.boundaries[2]!
  const fed = [...old.log.entries.slice(0, cut), epochStartFrame(5, old.log.frames[cut - 1]!).entry]
  const hooks = waitHooks()
  const tape = new PromotableTape({ onWait: hooks.onWait })
  let reads = 0
  const stdin = new LineFeed(() => {
    reads++
  })
  const out = new LineCollector()
  const live = new EntryLog()
  for (const e of fed.slice(0, 5)) tape.feed(e)
  const { machine } = await bootGuest(kv, tape, { stdin, stdout: out.sink })
  const run = machine.run()
  await caughtUp(tape, hooks.listeners)
  for (const e of fed.slice(5)) tape.feed(e)
  await caughtUp(tape, hooks.listeners)
  t.true(machine.blocked)
  t.is(out.text, 'OK\n42\n42\n')
  t.is(reads, 0)

  tape.goLive({ sink: live, epoch: 5 })
  t.is(tape.mode, 'record')
  t.is(tape.recorder?.position, cut + 1)
  stdin.push('PING')
  await out.lines(4)
  t.is(out.text, 'OK\n42\n42\nPONG\n')
  t.true(reads > 0)
  const first = live.entries[0]!
  t.is(first.seq, cut + 1)
  t.is(first.kind, EntryKind.Call)
  const call = decodeCall(first.payload, first.seq)
  t.is(call.fn, 'fd_read', 'the first live entry is the read the guest was blocked in')
  t.is(td.decode(call.result.subarray(2)), 'PING\n')
  stdin.end()
  const result = await run
  t.is(result.kind, 'ended')
  t.notThrows(() => verifyChain([...fed, ...live.entries]))
})

test('a promotion right after a replayed memory.grow keeps the memory it grew', async (t) => {
  const requests = ['SET a 1', `SET big ${'x'.repeat(200_000)}`, 'GET a', 'KEYS']
  const input = `${requests.join('\n')}\n`
  const old = await recordKv(requests, requests.length, 1)
  const grows = old.log.entries.flatMap((e, i) =>
    e.kind === EntryKind.Call && decodeCall(e.payload, e.seq).fn === 'memory.grow' ? [i] : [],
  )
  t.true(grows.length > 0, 'the big request makes the guest grow its memory')
  const cut = grows[0]! + 1
  const fed = [...old.log.entries.slice(0, cut), epochStartFrame(2, old.log.frames[cut - 1]!).entry]
  // the new primary's stdin holds what the old one had not read yet
  let consumed = 0
  for (const e of fed) {
    if (e.kind !== EntryKind.Call) continue
    const call = decodeCall(e.payload, e.seq)
    if (call.fn === 'fd_read') consumed += call.result.length - 2
  }
  const tape = new PromotableTape()
  for (const e of fed) tape.feed(e)
  const live = new EntryLog()
  tape.goLive({ sink: live, epoch: 2 })
  const stdin = new LineFeed()
  stdin.pushText(input.slice(consumed))
  stdin.end()
  const out = new LineCollector()
  const { machine } = await bootGuest(kv, tape, { stdin, stdout: out.sink })
  const result = await machine.run()
  t.deepEqual(result.kind === 'ended' && result.outcome, { kind: 'exit', code: 0 })
  t.is(live.entries[0]!.seq, cut + 1, 'live from the entry after the grow and the epoch start')
  t.is(out.text, old.out.text)
  const again = await replayAll([...fed, ...live.entries])
  t.is(
    result.kind === 'ended' && hex(result.digest),
    again.result.kind === 'ended' && hex(again.result.digest),
  )
})

/** The log with entry `at`'s payload replaced, re-hashed so only the guest can notice. */
function forge(entries: readonly LogEntry[], at: number, payload: Uint8Array): LogEntry[] {
  const chain = new HashChain()
  return entries.map((e, i) => chain.append(e.kind, e.epoch, i === at ? payload : e.payload).entry)
}

test('a divergence during replay is reported at the entry, exactly as a Replayer reports it', async (t) => {
  const old = await recordKv(['SET a 1', 'GET a', 'PING'], 3, 1)
  const entries = old.log.entries
  const at = entries.findIndex(
    (e) => e.kind === EntryKind.Call && td.decode(decodeCall(e.payload, e.seq).result).includes('GET a'),
  )
  const call = decodeCall(entries[at]!.payload, at)
  const forged = forge(entries, at, encodeCallLike(call.fn, call.args, 'GET b\n'))
  // the guest now answers NIL where the recording answered 1: the next Output entry differs
  const outputAt = forged.findIndex((e, i) => i > at && e.kind === EntryKind.Output)

  const plain = new Replayer({ source: LogBuffer.of(forged) })
  const plainRun = bootGuest(kv, plain, {}).then(({ machine }) => machine.run())
  const expected = await t.throwsAsync(plainRun, { instanceOf: DivergenceError })

  const hooks = waitHooks()
  const tape = new PromotableTape({ onWait: hooks.onWait })
  for (const e of forged.slice(0, at)) tape.feed(e)
  const run = bootGuest(kv, tape, {}).then(({ machine }) => machine.run())
  await caughtUp(tape, hooks.listeners)
  for (const e of forged.slice(at)) tape.feed(e)
  const got = await t.throwsAsync(run, { instanceOf: DivergenceError })
  t.is(got?.seq, outputAt)
  t.is(got?.seq, expected?.seq)
  t.is(got?.message, expected?.message)
  t.throws(() => tape.goLive({ sink: new EntryLog(), epoch: 2 }), {
    instanceOf: PromotionError,
    code: 'ERR_PROMOTION',
  })
})

/** A Call payload answering `fn(args)` with a successful read of `line`. */
function encodeCallLike(fn: string, args: readonly (number | bigint)[], line: string): Uint8Array {
  const bytes = te.encode(line)
  const result = new Uint8Array(2 + bytes.length)
  result.set(bytes, 2)
  return encodeCall(fn, [...args], result)
}

/** A few Call entries and a checkpoint mark, recorded in epoch 1. */
function smallLog(): { log: EntryLog; recorder: Recorder } {
  const log = new EntryLog()
  const recorder = new Recorder({ sink: log, epoch: 1 })
  for (let i = 0; i < 3; i++) recorder.call('random_get', [4], () => new Uint8Array([0, 0, i, i, i, i]))
  return { log, recorder }
}

test('entries must be fed in seq order: a gap or a repeat is refused, and nothing after goLive', (t) => {
  const { log } = smallLog()
  const [e0, e1, e2] = log.entries as [LogEntry, LogEntry, LogEntry]
  const tape = new PromotableTape()
  tape.feed(e0)
  t.throws(() => tape.feed(e2), {
    instanceOf: FeedOrderError,
    code: 'ERR_FEED_ORDER',
    message: /entry 2 .* entry 1/,
  })
  t.throws(() => tape.feed(e0), { instanceOf: FeedOrderError, code: 'ERR_FEED_ORDER' })
  tape.feed(e1)
  t.is(tape.backlog, 2)
  t.throws(() => tape.goLive({ sink: new EntryLog(), epoch: 0 }), {
    instanceOf: PromotionError,
    message: /epoch 0/,
  })
  tape.goLive({ sink: new EntryLog(), epoch: 1 })
  t.throws(() => tape.feed(e2), { instanceOf: PromotionError, code: 'ERR_PROMOTION' })
  t.throws(() => tape.goLive({ sink: new EntryLog(), epoch: 2 }), { instanceOf: PromotionError })
})

test('an empty feed makes a call wait, never end the log; feeding wakes it with the recorded answer', async (t) => {
  const { log } = smallLog()
  const tape = new PromotableTape()
  const pending = tape.call('random_get', [4], never)
  t.true(pending instanceof Promise)
  let settled = false
  ;(pending as Promise<Uint8Array>).then(
    () => (settled = true),
    () => (settled = true),
  )
  await setImmediate()
  t.false(settled)
  t.true(tape.waiting)
  t.throws(() => tape.call('random_get', [4], never), { code: 'ERR_TAPE_BUSY' })
  tape.feed(log.entries[0]!)
  t.deepEqual([...(await pending)], [0, 0, 0, 0, 0, 0])
  t.is(tape.position, 1)
  t.false(tape.waiting)
})

test('a trailing mark is consumed and verified at goLive, and the live log continues its chain', (t) => {
  const { log, recorder } = smallLog()
  recorder.mark(EntryKind.Checkpoint, { stateDigest: new Uint8Array(32).fill(7) })
  const marks: LogEntry[] = []
  const tape = new PromotableTape({ onMark: (e) => marks.push(e) })
  for (const e of log.entries) tape.feed(e)
  for (let i = 0; i < 3; i++) tape.call('random_get', [4], never)
  t.is(tape.position, 3)
  t.is(marks.length, 0, 'the guest has not asked past the mark yet')
  const live = new EntryLog()
  tape.goLive({ sink: live, epoch: 1 })
  t.is(marks.length, 1)
  t.is(tape.mode, 'record')
  t.is(tape.position, 4)
  t.is(hex(tape.lastHash), hex(recorder.lastHash))
  tape.call('random_get', [4], () => new Uint8Array([0, 0, 9, 9, 9, 9]))
  t.is(live.entries[0]!.seq, 4)
  t.notThrows(() => verifyChain([...log.entries, ...live.entries]))
})

test('a damaged trailing mark fails goLive and the call waiting for it', async (t) => {
  const { log } = smallLog()
  const bad = epochStartFrame(2, log.frames[1]!).entry // chained after entry 1, fed after entry 2
  const tape = new PromotableTape()
  for (const e of log.entries) tape.feed(e)
  for (let i = 0; i < 3; i++) tape.call('random_get', [4], never)
  const pending = tape.call('random_get', [4], () => new Uint8Array([0, 0, 1, 1, 1, 1]))
  tape.feed({ ...bad, seq: 3 })
  t.throws(() => tape.goLive({ sink: new EntryLog(), epoch: 2 }), { instanceOf: CorruptLogError })
  await t.throwsAsync(pending as Promise<Uint8Array>, { instanceOf: CorruptLogError })
  t.is(tape.mode, 'replay')
})

test('a call waiting in replay runs live when goLive comes, and a pause abandons a wait in either mode', async (t) => {
  const { log } = smallLog()
  const tape = new PromotableTape()
  tape.feed(log.entries[0]!)
  tape.call('random_get', [4], never)
  const abandoned = tape.call('random_get', [4], never)
  tape.abandon()
  await t.throwsAsync(abandoned as Promise<Uint8Array>, { instanceOf: AbandonedCallError })
  t.false(tape.waiting)
  let ran = 0
  const pending = tape.call('random_get', [4], () => {
    ran++
    return new Uint8Array([0, 0, 5, 5, 5, 5])
  })
  const live = new EntryLog()
  tape.goLive({ sink: live, epoch: 3 })
  t.deepEqual([...(await pending)], [0, 0, 5, 5, 5, 5])
  t.is(ran, 1)
  t.is(live.entries.length, 1)
  t.like(live.entries[0], { seq: 1, epoch: 3, kind: EntryKind.Call })

  // live, abandon goes to the recorder: the blocked call records nothing and the tape is free again
  let release!: (bytes: Uint8Array) => void
  const blocked = tape.call('fd_read', [0, 16], () => new Promise<Uint8Array>((r) => (release = r)))
  tape.abandon()
  release(new Uint8Array([0, 0, 65]))
  await t.throwsAsync(blocked as Promise<Uint8Array>, { instanceOf: AbandonedCallError })
  tape.call('random_get', [4], () => new Uint8Array([0, 0, 6, 6, 6, 6]))
  t.deepEqual(
    live.entries.map((e) => decodeCall(e.payload, e.seq).fn),
    ['random_get', 'random_get'],
  )
})

test('epochStartFrame makes the bytes Recorder.mark appends: at genesis, after a frame, after a chain position', (t) => {
  const genesis = new EntryLog()
  new Recorder({ sink: genesis }).mark(EntryKind.EpochStart, { epoch: 3 })
  const fromGenesis = epochStartFrame(3, undefined)
  t.is(hex(fromGenesis.frame), hex(genesis.frames[0]!))
  t.is(hex(encodeEntry(fromGenesis.entry)), hex(genesis.frames[0]!))

  const { log, recorder } = smallLog()
  const position = recorder.snapshot()
  const lastFrame = log.frames.at(-1)!
  recorder.mark(EntryKind.EpochStart, { epoch: 2 })
  const marked = log.frames.at(-1)!
  t.is(hex(epochStartFrame(2, lastFrame).frame), hex(marked))
  t.is(hex(epochStartFrame(2, position).frame), hex(marked))
  t.deepEqual(epochStartFrame(2, position).entry, log.entries.at(-1))

  const resumed = new EntryLog()
  new Recorder({ sink: resumed, resume: position }).mark(EntryKind.EpochStart, { epoch: 7 })
  t.is(hex(epochStartFrame(7, lastFrame).frame), hex(resumed.frames[0]!))

  t.throws(() => epochStartFrame(1, lastFrame), { instanceOf: RangeError })
  t.throws(() => epochStartFrame(2, lastFrame.subarray(1)), { instanceOf: CorruptLogError })
})

test('LiveClocks: realtime never goes below what the guest saw, even on a host whose wall clock is behind', (t) => {
  let raw = 4_000_000_000_000n
  let last: bigint | undefined = 5_000_000_000_000n
  const time: TimeSource = { realtime: () => raw, monotonic: () => 0n }
  const clocks = new LiveClocks({ lastMonotonic: () => undefined, lastRealtime: () => last }, time)
  const read = () => {
    const v = clocks.now(REALTIME)
    last = v
    return v
  }
  const first = read()
  t.true(first >= 5_000_000_000_000n)
  raw += 1_000_000n
  t.is(read(), first + 1_000_000n, 'time goes on at the host’s pace')
  raw -= 10_000_000_000n // the wall clock is stepped back
  t.is(read(), first + 1_000_000n)
  const fresh = new LiveClocks({ lastMonotonic: () => undefined, lastRealtime: () => undefined }, time)
  t.is(fresh.now(REALTIME), raw, 'a fresh VM sees the host’s wall clock')
})

test('after promotion to a host whose clocks are behind, realtime and monotonic never go back', async (t) => {
  const T0 = 1_700_000_000_000_000_000n
  const requests = ['SET a 1', 'STATS', 'GET a', 'STATS', 'INCR a', 'STATS']
  const old = await recordKv(requests, 2, 1, steppingTime(T0, 50_000_000_000n))
  const cut = old.boundaries[1]!
  const fed = [...old.log.entries.slice(0, cut), epochStartFrame(2, old.log.frames[cut - 1]!).entry]
  const tape = new PromotableTape()
  for (const e of fed) tape.feed(e)
  const live = new EntryLog()
  tape.goLive({ sink: live, epoch: 2 })
  const stdin = new LineFeed()
  stdin.push(...requests.slice(2))
  stdin.end()
  const out = new LineCollector()
  // an hour behind, and a monotonic clock that started at 0 on this host
  const behind = steppingTime(T0 - 3_600_000_000_000n, 0n)
  const { machine } = await bootGuest(kv, tape, { stdin, stdout: out.sink, time: behind })
  const result = await machine.run()
  t.is(result.kind, 'ended')
  t.is(tape.mode, 'record')

  const clocks = { [REALTIME]: [] as bigint[], [MONOTONIC]: [] as bigint[] }
  for (const e of [...fed, ...live.entries]) {
    if (e.kind !== EntryKind.Call) continue
    const call = decodeCall(e.payload, e.seq)
    if (call.fn !== 'clock_time_get') continue
    const id = call.args[0] as 0 | 1
    clocks[id]?.push(new DataView(call.result.buffer, call.result.byteOffset + 2, 8).getBigUint64(0, true))
  }
  for (const id of [REALTIME, MONOTONIC] as const) {
    t.true(clocks[id].length >= 4, `clock ${id} was read before and after the promotion`)
    t.true(
      clocks[id].every((v, i) => i === 0 || v >= clocks[id][i - 1]!),
      `clock ${id} went back: ${clocks[id].join(', ')}`,
    )
  }
  const times = [...out.text.matchAll(/ time_ms=(\d+)/g)].map((m) => Number(m[1]))
  t.is(times.length, 3)
  t.true(
    times.every((v, i) => i === 0 || v >= times[i - 1]!),
    `STATS time_ms went back: ${times.join(', ')}`,
  )
})
