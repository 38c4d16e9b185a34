/** Shared fixtures for the log tests: a scripted recording with every entry kind, and a seeded PRNG. */
import { LogBuffer } from '../../../src/replay/log/log-buffer.ts'
import { Recorder } from '../../../src/replay/log/recorder.ts'
import type { Replayer } from '../../../src/replay/log/replayer.ts'
import { type CallArg, EntryKind, type LogEntry, type Outcome } from '../../../src/replay/types.ts'

const te = new TextEncoder()

export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values)
}

export function digestOf(byte: number): Uint8Array {
  return new Uint8Array(32).fill(byte)
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

/** An entry with its byte arrays as hex, for deepEqual across Buffer / Uint8Array / views. */
export function plain(e: LogEntry): {
  seq: number
  epoch: number
  kind: number
  payload: string
  prevHash: string
} {
  return { seq: e.seq, epoch: e.epoch, kind: e.kind, payload: hex(e.payload), prevHash: hex(e.prevHash) }
}

/** One step of a scripted guest: what it asks the tape, and the live answer. */
export type Step =
  | { op: 'call'; fn: string; args: CallArg[]; result: Uint8Array }
  | { op: 'input'; name: string; bytes: Uint8Array }
  | { op: 'output'; stream: number; bytes: Uint8Array }
  | { op: 'checkpoint'; digest: Uint8Array }
  | { op: 'epoch'; epoch: number }
  | { op: 'exit'; outcome: Outcome; digest: Uint8Array }

export const SCRIPT: readonly Step[] = [
  { op: 'input', name: 'start', bytes: te.encode('{"args":["guest","--fast"]}') },
  { op: 'call', fn: 'clock_time_get', args: [1, 1000n], result: bytes(0, 1, 2, 3, 4, 5, 6, 7) },
  { op: 'call', fn: 'random_get', args: [16], result: new Uint8Array(16).fill(0xab) },
  { op: 'output', stream: 1, bytes: te.encode('hello, world\n') },
  { op: 'call', fn: 'fd_read', args: [0, 1024, 1, 2048], result: te.encode('a line of input\n') },
  { op: 'checkpoint', digest: digestOf(7) },
  {
    op: 'call',
    fn: 'a_custom_import',
    args: [-5, 2 ** 40, -(2n ** 64n), 2n ** 64n - 1n, 0n],
    result: bytes(),
  },
  { op: 'call', fn: 'poll_oneoff', args: [], result: new Uint8Array(300).fill(3) },
  { op: 'epoch', epoch: 2 },
  { op: 'output', stream: 2, bytes: te.encode('warning: ünïcode\n') },
  { op: 'call', fn: 'memory.grow', args: [0, 1], result: bytes(1, 0, 0, 0) },
  { op: 'input', name: 'disk', bytes: new Uint8Array(5000).map((_, i) => i * 7) },
  { op: 'exit', outcome: { kind: 'exit', code: 3 }, digest: digestOf(9) },
]

/** Plays `steps` against a recorder (synchronously). */
export function record(recorder: Recorder, steps: readonly Step[] = SCRIPT): void {
  for (const s of steps) {
    switch (s.op) {
      case 'call':
        recorder.call(s.fn, s.args, () => s.result)
        break
      case 'input':
        recorder.input(s.name, () => s.bytes)
        break
      case 'output':
        recorder.output(s.stream, s.bytes)
        break
      case 'checkpoint':
        recorder.mark(EntryKind.Checkpoint, { stateDigest: s.digest })
        break
      case 'epoch':
        recorder.mark(EntryKind.EpochStart, { epoch: s.epoch })
        break
      case 'exit':
        recorder.exit(s.outcome, s.digest)
        break
    }
  }
}

export const never = (): Uint8Array => {
  throw new Error('replay must not run the live operation')
}

/** Plays `steps` against a replayer, synchronously; returns what the replayed guest got back. */
export function replay(replayer: Replayer, steps: readonly Step[] = SCRIPT): string[] {
  const got: string[] = []
  for (const s of steps) {
    let r: unknown
    if (s.op === 'call') r = replayer.call(s.fn, s.args, never)
    else if (s.op === 'input') r = replayer.input(s.name, never)
    else if (s.op === 'output') r = replayer.output(s.stream, s.bytes)
    else if (s.op === 'exit') r = replayer.exit(s.outcome, s.digest)
    else continue // marks are the machine's, the replayer passes over them
    if (r instanceof Promise) throw new Error('the sync path returned a Promise')
    if (r instanceof Uint8Array) got.push(hex(r))
  }
  return got
}

/** The entries of SCRIPT recorded at epoch 1. */
export function sampleEntries(): LogEntry[] {
  const buffer = new LogBuffer()
  record(new Recorder({ sink: buffer, epoch: 1 }))
  return [...buffer.entries]
}

/** mulberry32: a small seeded PRNG so fuzz failures reproduce. */
export function prng(seed: number): { next(): number; int(n: number): number } {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, int: (n: number) => Math.floor(next() * n) }
}
