/**
 * One-line human descriptions of entries and of what a guest asked, for
 * divergence messages and `understudy explain`-style listings. Both sides of a
 * divergence are written in the same style so they read side by side.
 */
import { type CallArg, EntryKind, type LogEntry, type Outcome } from '../types.ts'
import { decodePayload } from './call-codec.ts'

const PREVIEW_CHARS = 40

export function describeArg(arg: CallArg): string {
  return typeof arg === 'bigint' ? `${arg}n` : String(arg)
}

/** `clock_time_get(1, 1000n)`: bigints carry an `n` so an i32/i64 mix-up is visible. */
export function describeCall(fn: string, args: readonly CallArg[]): string {
  let s = `${fn}(`
  for (let i = 0; i < args.length; i++) s += (i > 0 ? ', ' : '') + describeArg(args[i]!)
  return `${s})`
}

export function describeStream(stream: number): string {
  return stream === 1 ? 'stdout' : stream === 2 ? 'stderr' : `stream ${stream}`
}

/** The first bytes of a digest in hex, enough to tell two apart by eye. */
export function shortHex(bytes: Uint8Array, n = 4): string {
  let s = ''
  for (let i = 0; i < Math.min(n, bytes.length); i++) s += bytes[i]!.toString(16).padStart(2, '0')
  return bytes.length > n ? `${s}…` : s
}

export function describeOutcome(outcome: Outcome): string {
  switch (outcome.kind) {
    case 'exit':
      return `code ${outcome.code}`
    case 'trap':
      return `trap ${JSON.stringify(outcome.message)}`
    case 'stack-overflow':
      return 'stack overflow'
  }
}

/** `output(stdout, 12 bytes, sha256 1a2b3c4d…)`, with a preview of the text when the bytes are at hand. */
export function describeOutput(
  stream: number,
  length: number,
  digest: Uint8Array,
  bytes?: Uint8Array,
): string {
  const preview = bytes === undefined ? '' : ` ${previewText(bytes)}`
  return `output(${describeStream(stream)}, ${length} bytes${preview}, sha256 ${shortHex(digest)})`
}

export function describeExit(outcome: Outcome, stateDigest: Uint8Array): string {
  return `exit(${describeOutcome(outcome)}, state ${shortHex(stateDigest)})`
}

export function describeInput(name: string, length: number): string {
  return `input(${JSON.stringify(name)}, ${length} bytes)`
}

/**
 * Describes an entry, e.g. `clock_time_get(1, 1000n) -> 8 bytes`. Throws
 * CorruptLogError if its payload does not decode.
 */
export function describeEntry(entry: LogEntry): string {
  const p = decodePayload(entry)
  switch (p.kind) {
    case EntryKind.Call:
      return `${describeCall(p.fn, p.args)} -> ${p.result.length} bytes`
    case EntryKind.Input:
      return describeInput(p.name, p.bytes.length)
    case EntryKind.Output:
      return describeOutput(p.stream, p.length, p.digest)
    case EntryKind.Exit:
      return describeExit(p.outcome, p.stateDigest)
    case EntryKind.Checkpoint:
      return `checkpoint(state ${shortHex(p.stateDigest)})`
    case EntryKind.EpochStart:
      return `epoch-start(${p.epoch})`
  }
}

function previewText(bytes: Uint8Array): string {
  const head = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, PREVIEW_CHARS))
  return JSON.stringify(head) + (bytes.length > PREVIEW_CHARS ? '…' : '')
}
