/**
 * Binary encodings of the store's replica-group values. Fixed-width big-endian numbers, then the
 * variable part; a value that does not decode is reported, never guessed at.
 */
import type { Checkpoint, Entry, EntryKind, HardState } from '../group/types.ts'
import { readU64, writeU64 } from './keys.ts'

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder('utf-8', { fatal: true })

const KINDS: readonly EntryKind[] = ['normal', 'epoch-start']

/** A stored value that does not decode; the store turns it into a StoreError naming the key. */
export class ValueDecodeError extends Error {}

/** epoch u64 | kind u8 | data */
export function encodeEntryValue(entry: Entry): Uint8Array {
  const kind = KINDS.indexOf(entry.kind)
  if (kind < 0) throw new RangeError(`unknown entry kind ${entry.kind}`)
  const out = new Uint8Array(9 + entry.data.byteLength)
  writeU64(out, 0, entry.epoch)
  out[8] = kind
  out.set(entry.data, 9)
  return out
}

export function decodeEntryValue(seq: number, value: Uint8Array): Entry {
  if (value.byteLength < 9) throw new ValueDecodeError(`entry ${seq} is ${value.byteLength} bytes, under 9`)
  const kind = KINDS[value[8]!]
  if (kind === undefined) throw new ValueDecodeError(`entry ${seq} has unknown kind ${value[8]}`)
  // A plain copy: level hands out Buffers, whose slice() would share memory.
  return { seq, epoch: readU64(value, 0), kind, data: new Uint8Array(value.subarray(9)) }
}

/** epoch u64 | commitSeq u64 | voted u8 | votedFor utf8 */
export function encodeHardState(hs: HardState): Uint8Array {
  const voted = hs.votedFor === undefined ? new Uint8Array(0) : utf8.encode(hs.votedFor)
  const out = new Uint8Array(17 + voted.length)
  writeU64(out, 0, hs.epoch)
  writeU64(out, 8, hs.commitSeq)
  out[16] = hs.votedFor === undefined ? 0 : 1
  out.set(voted, 17)
  return out
}

export function decodeHardState(value: Uint8Array): HardState {
  if (value.byteLength < 17 || value[16]! > 1) throw new ValueDecodeError('hard state does not decode')
  return {
    epoch: readU64(value, 0),
    commitSeq: readU64(value, 8),
    votedFor: value[16] === 1 ? fromUtf8.decode(value.subarray(17)) : undefined,
  }
}

/** seq u64 | epoch u64 | ref */
export function encodeCheckpoint(cp: Checkpoint): Uint8Array {
  const out = new Uint8Array(16 + cp.ref.byteLength)
  writeU64(out, 0, cp.seq)
  writeU64(out, 8, cp.epoch)
  out.set(cp.ref, 16)
  return out
}

export function decodeCheckpoint(value: Uint8Array): Checkpoint {
  if (value.byteLength < 16) throw new ValueDecodeError('checkpoint metadata does not decode')
  return { seq: readU64(value, 0), epoch: readU64(value, 8), ref: new Uint8Array(value.subarray(16)) }
}

export function encodeU64(n: number): Uint8Array {
  const out = new Uint8Array(8)
  writeU64(out, 0, n)
  return out
}

export function decodeU64(value: Uint8Array): number {
  if (value.byteLength !== 8) throw new ValueDecodeError(`expected 8 bytes, found ${value.byteLength}`)
  return readU64(value, 0)
}

export function encodeJson(value: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(value))
}

export function decodeJson(value: Uint8Array): unknown {
  try {
    return JSON.parse(fromUtf8.decode(value))
  } catch (err) {
    throw new ValueDecodeError('stored JSON does not decode', { cause: err })
  }
}

/** metaLength u32 | meta JSON | bytes */
export function encodeManifest(meta: unknown, bytes: Uint8Array): Uint8Array {
  const json = encodeJson(meta)
  const out = new Uint8Array(4 + json.length + bytes.byteLength)
  new DataView(out.buffer).setUint32(0, json.length)
  out.set(json, 4)
  out.set(bytes, 4 + json.length)
  return out
}

export function decodeManifest(value: Uint8Array): { meta: unknown; bytes: Uint8Array } {
  if (value.byteLength < 4) throw new ValueDecodeError('manifest record does not decode')
  const length = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0)
  if (4 + length > value.byteLength) throw new ValueDecodeError('manifest record is cut short')
  return {
    meta: decodeJson(value.subarray(4, 4 + length)),
    bytes: new Uint8Array(value.subarray(4 + length)),
  }
}
