/**
 * Binary encodings of the store's replica-group values. Fixed-width big-endian numbers, then the
 * variable part; a value that does not decode is reported, never guessed at.
 */
import { decodeMembership, encodeMembership } from '../group/membership-codec.ts'
import type { Checkpoint, Entry, EntryKind, HardState } from '../group/types.ts'
import { readU64, writeU64 } from './keys.ts'

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder('utf-8', { fatal: true })

const KINDS: readonly EntryKind[] = ['normal', 'epoch-start', 'config']
/** First byte of a checkpoint record that carries a configuration (a plain record starts with 0x00). */
const CHECKPOINT_WITH_CONFIG = 0x01

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

/**
 * Without a configuration (as every store before membership changes wrote it):
 *   seq u64 | epoch u64 | ref
 * whose first byte is always 0x00 (a seq is below 2^53). With one:
 *   0x01 | seq u64 | epoch u64 | configLength u32 | config (membership-codec) | ref
 */
export function encodeCheckpoint(cp: Checkpoint): Uint8Array {
  if (cp.members === undefined) {
    const out = new Uint8Array(16 + cp.ref.byteLength)
    writeU64(out, 0, cp.seq)
    writeU64(out, 8, cp.epoch)
    out.set(cp.ref, 16)
    return out
  }
  const config = encodeMembership({ members: cp.members, learners: cp.learners ?? [] })
  const out = new Uint8Array(21 + config.byteLength + cp.ref.byteLength)
  out[0] = CHECKPOINT_WITH_CONFIG
  writeU64(out, 1, cp.seq)
  writeU64(out, 9, cp.epoch)
  new DataView(out.buffer).setUint32(17, config.byteLength)
  out.set(config, 21)
  out.set(cp.ref, 21 + config.byteLength)
  return out
}

export function decodeCheckpoint(value: Uint8Array): Checkpoint {
  if (value.byteLength < 16) throw new ValueDecodeError('checkpoint metadata does not decode')
  if (value[0] === 0) {
    return { seq: readU64(value, 0), epoch: readU64(value, 8), ref: new Uint8Array(value.subarray(16)) }
  }
  if (value[0] !== CHECKPOINT_WITH_CONFIG || value.byteLength < 21) {
    throw new ValueDecodeError('checkpoint metadata does not decode')
  }
  const length = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(17)
  if (21 + length > value.byteLength) throw new ValueDecodeError('checkpoint configuration is cut short')
  let config: ReturnType<typeof decodeMembership>
  try {
    config = decodeMembership(value.subarray(21, 21 + length))
  } catch (err) {
    throw new ValueDecodeError('checkpoint configuration does not decode', { cause: err })
  }
  return {
    seq: readU64(value, 1),
    epoch: readU64(value, 9),
    ref: new Uint8Array(value.subarray(21 + length)),
    members: config.members,
    learners: config.learners,
  }
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
