/**
 * The store's key layout. Every key is binary and starts with a one-byte space tag; numbers are
 * big-endian and fixed width so that LevelDB's bytewise order is numeric order:
 *
 *   00 'format'                                   format record (JSON)
 *   01 <workload> 00 01                           hard state (epoch, commitSeq, votedFor)
 *   01 <workload> 00 02 <seq u64>                 log entry
 *   01 <workload> 00 03                           checkpoint metadata (seq, epoch, ref)
 *   01 <workload> 00 04                           applied seq
 *   01 <workload> 00 05 <seq u64> <chunk u32>     checkpoint data, in chunks
 *   02 <workload>                                 workload manifest (metadata JSON + opaque bytes)
 *   03 <time ms u64> <counter u32>                audit record (JSON)
 *
 * A workload name is UTF-8 without NUL; the 00 after it keeps one workload's keys contiguous and
 * apart from any name it is a prefix of ("a" < "a-b").
 */

export const SPACE_META = 0x00
export const SPACE_GROUP = 0x01
export const SPACE_MANIFEST = 0x02
export const SPACE_AUDIT = 0x03

export const PART_HARD_STATE = 0x01
export const PART_ENTRY = 0x02
export const PART_CHECKPOINT = 0x03
export const PART_APPLIED = 0x04
export const PART_CHECKPOINT_DATA = 0x05

/** Largest seq or time a key holds exactly: JavaScript numbers are exact up to 2^53. */
const MAX_U64 = Number.MAX_SAFE_INTEGER
const MAX_NAME_BYTES = 255

const utf8 = new TextEncoder()

export const FORMAT_KEY = Uint8Array.of(SPACE_META, ...utf8.encode('format'))

/** Checks a workload name and returns its bytes; a bad name is the caller's bug, not a store fault. */
export function workloadBytes(workload: string): Uint8Array {
  const bytes = utf8.encode(workload)
  if (bytes.length === 0 || bytes.length > MAX_NAME_BYTES || bytes.includes(0)) {
    throw new RangeError(
      `workload name must be 1-${MAX_NAME_BYTES} UTF-8 bytes without NUL: ${JSON.stringify(workload)}`,
    )
  }
  return bytes
}

export function writeU64(out: Uint8Array, at: number, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_U64) throw new RangeError(`not a u64 the store can hold: ${n}`)
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  view.setUint32(at, Math.floor(n / 2 ** 32))
  view.setUint32(at + 4, n >>> 0)
}

export function readU64(bytes: Uint8Array, at: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4)
}

/** `01 <workload> 00`: the prefix of everything one replica group stores. */
export function groupPrefix(workload: string): Uint8Array {
  const name = workloadBytes(workload)
  const out = new Uint8Array(name.length + 2)
  out[0] = SPACE_GROUP
  out.set(name, 1)
  return out
}

/** The first key after every key that starts with `prefix`. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const out = prefix.slice()
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]!++
      return out.subarray(0, i + 1)
    }
  }
  throw new RangeError('a prefix of only 0xff bytes has no end')
}

/** Keys of one replica group, built once per group. */
export class GroupKeys {
  readonly prefix: Uint8Array
  readonly hardState: Uint8Array
  readonly checkpoint: Uint8Array
  readonly applied: Uint8Array
  readonly end: Uint8Array

  constructor(workload: string) {
    this.prefix = groupPrefix(workload)
    this.hardState = this.#part(PART_HARD_STATE)
    this.checkpoint = this.#part(PART_CHECKPOINT)
    this.applied = this.#part(PART_APPLIED)
    this.end = prefixEnd(this.prefix)
  }

  entry(seq: number): Uint8Array {
    const out = new Uint8Array(this.prefix.length + 9)
    out.set(this.prefix)
    out[this.prefix.length] = PART_ENTRY
    writeU64(out, this.prefix.length + 1, seq)
    return out
  }

  /** The seq of an entry key of this group. */
  entrySeq(key: Uint8Array): number {
    return readU64(key, this.prefix.length + 1)
  }

  checkpointData(seq: number, chunk: number): Uint8Array {
    const out = new Uint8Array(this.prefix.length + 13)
    out.set(this.prefix)
    out[this.prefix.length] = PART_CHECKPOINT_DATA
    writeU64(out, this.prefix.length + 1, seq)
    new DataView(out.buffer).setUint32(this.prefix.length + 9, chunk)
    return out
  }

  /** The seq of a checkpoint data key of this group. */
  checkpointDataSeq(key: Uint8Array): number {
    return readU64(key, this.prefix.length + 1)
  }

  #part(part: number): Uint8Array {
    const out = new Uint8Array(this.prefix.length + 1)
    out.set(this.prefix)
    out[this.prefix.length] = part
    return out
  }
}

export function manifestKey(workload: string): Uint8Array {
  const name = workloadBytes(workload)
  const out = new Uint8Array(name.length + 1)
  out[0] = SPACE_MANIFEST
  out.set(name, 1)
  return out
}

export function auditKey(time: number, counter: number): Uint8Array {
  const out = new Uint8Array(13)
  out[0] = SPACE_AUDIT
  writeU64(out, 1, time)
  new DataView(out.buffer).setUint32(9, counter)
  return out
}

export function readAuditKey(key: Uint8Array): { time: number; counter: number } {
  return { time: readU64(key, 1), counter: new DataView(key.buffer, key.byteOffset).getUint32(9) }
}

/** The name in a `01 <workload> 00 …` key. */
export function workloadOfGroupKey(key: Uint8Array): string {
  const end = key.indexOf(0, 1)
  return new TextDecoder().decode(key.subarray(1, end))
}

export function workloadOfManifestKey(key: Uint8Array): string {
  return new TextDecoder().decode(key.subarray(1))
}
