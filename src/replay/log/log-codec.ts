/**
 * Binary framing of one log entry (format version 1):
 *
 *   [u32 BE length of the rest][u8 version = 1][u8 kind][varint seq][varint epoch][32-byte prevHash][payload]
 *
 * Varints are canonical unsigned LEB128 (see varint.ts). The decoder is strict: any
 * frame that is not exactly what encodeEntry would produce is a CorruptLogError.
 */
import { CorruptLogError } from '../../errors/index.ts'
import { EntryKind, type LogEntry } from '../types.ts'
import { ByteReader } from './byte-reader.ts'
import { assertVarint, MAX_VARINT_BYTES, varintSize, writeVarint } from './varint.ts'

export interface DecodeOptions {
  /** Largest payload accepted, in bytes (default 16 MiB). Larger frames are refused before buffering. */
  maxPayload?: number
}

/** An entry together with the exact bytes of its frame (what the hash chain covers). */
export interface DecodedFrame {
  entry: LogEntry
  frame: Uint8Array
}

export const FRAME_VERSION = 1
export const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024
export const HASH_BYTES = 32
/** Bytes of the u32 length prefix. */
export const LENGTH_BYTES = 4
/** Smallest possible value of the length field: version, kind, 1-byte seq and epoch, prevHash. */
export const MIN_FRAME_BODY = 1 + 1 + 1 + 1 + HASH_BYTES
const MAX_FRAME_HEADER = 1 + 1 + MAX_VARINT_BYTES + MAX_VARINT_BYTES + HASH_BYTES

const KIND_NAMES: Record<number, string> = {
  [EntryKind.Call]: 'call',
  [EntryKind.Input]: 'input',
  [EntryKind.Output]: 'output',
  [EntryKind.Checkpoint]: 'checkpoint',
  [EntryKind.EpochStart]: 'epoch-start',
  [EntryKind.Exit]: 'exit',
}

export function isEntryKind(kind: number): kind is EntryKind {
  return KIND_NAMES[kind] !== undefined
}

export function kindName(kind: number): string {
  return KIND_NAMES[kind] ?? `kind ${kind}`
}

/** The encoded size of an entry's frame, length prefix included. */
export function frameSize(entry: LogEntry): number {
  return (
    LENGTH_BYTES + 2 + varintSize(entry.seq) + varintSize(entry.epoch) + HASH_BYTES + entry.payload.length
  )
}

/** The frame of `entry`. */
export function encodeEntry(entry: LogEntry): Uint8Array {
  return encodeEntryAfter(undefined, entry)
}

/**
 * One buffer holding `prefix` followed by the frame of `entry`, so the hash chain
 * can hash `prev || frame` without a second copy. The frame is `result.subarray(prefix.length)`.
 */
export function encodeEntryAfter(prefix: Uint8Array | undefined, entry: LogEntry): Uint8Array {
  return encode(prefix, entry, true)
}

/**
 * Like encodeEntryAfter but stops before the payload: `header || payload` is the
 * frame, so a large entry can be hashed without copying its payload.
 */
export function encodeHeaderAfter(prefix: Uint8Array | undefined, entry: LogEntry): Uint8Array {
  return encode(prefix, entry, false)
}

function encode(prefix: Uint8Array | undefined, entry: LogEntry, withPayload: boolean): Uint8Array {
  assertVarint(entry.seq, 'seq')
  assertVarint(entry.epoch, 'epoch')
  if (!isEntryKind(entry.kind)) throw new RangeError(`unknown entry kind ${entry.kind}`)
  if (entry.prevHash.length !== HASH_BYTES) {
    throw new RangeError(`prevHash must be ${HASH_BYTES} bytes, got ${entry.prevHash.length}`)
  }
  const room = prefix === undefined ? 0 : prefix.length
  const size = frameSize(entry)
  if (size - LENGTH_BYTES > 0xffffffff) throw new RangeError(`entry ${entry.seq} is too large to frame`)
  const buf = new Uint8Array(room + size - (withPayload ? 0 : entry.payload.length))
  if (prefix !== undefined) buf.set(prefix, 0)
  const body = size - LENGTH_BYTES
  let pos = room
  buf[pos++] = body >>> 24
  buf[pos++] = (body >>> 16) & 0xff
  buf[pos++] = (body >>> 8) & 0xff
  buf[pos++] = body & 0xff
  buf[pos++] = FRAME_VERSION
  buf[pos++] = entry.kind
  pos = writeVarint(buf, pos, entry.seq)
  pos = writeVarint(buf, pos, entry.epoch)
  buf.set(entry.prevHash, pos)
  if (withPayload) buf.set(entry.payload, pos + HASH_BYTES)
  return buf
}

/** Reads the u32 length field at `offset` (the caller checked 4 bytes are there). */
export function readFrameLength(bytes: Uint8Array, offset: number): number {
  return (
    bytes[offset]! * 0x1000000 + ((bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!)
  )
}

/** Largest acceptable value of the length field for a payload limit. */
export function maxFrameBody(maxPayload: number): number {
  return maxPayload + MAX_FRAME_HEADER
}

/** Where a seq is not yet known, messages name the entry by this hint (e.g. its position in a file). */
function entryLabel(seq: number | undefined): string {
  return seq === undefined ? 'frame' : `entry ${seq}`
}

/** Checks a length field before the frame is buffered, so a corrupt length cannot make us allocate 4 GiB. */
export function checkFrameLength(length: number, maxPayload: number, seqHint?: number): void {
  if (length < MIN_FRAME_BODY) {
    throw new CorruptLogError(
      `${entryLabel(seqHint)}: length ${length} is below the minimum of ${MIN_FRAME_BODY}`,
      seqHint,
    )
  }
  if (length > maxFrameBody(maxPayload)) {
    throw new CorruptLogError(
      `${entryLabel(seqHint)}: length ${length} exceeds the limit for a ${maxPayload}-byte payload`,
      seqHint,
    )
  }
}

/**
 * Decodes the frame `bytes[start, end)`, which must be exactly one frame, length
 * prefix included. The entry's payload and prevHash are views into `bytes`.
 */
export function decodeFrame(
  bytes: Uint8Array,
  start: number,
  end: number,
  maxPayload: number,
  seqHint?: number,
): LogEntry {
  const available = end - start
  if (available < LENGTH_BYTES) {
    throw new CorruptLogError(
      `${entryLabel(seqHint)}: ${available} bytes, too short for a length field`,
      seqHint,
    )
  }
  const length = readFrameLength(bytes, start)
  checkFrameLength(length, maxPayload, seqHint)
  if (available - LENGTH_BYTES < length) {
    throw new CorruptLogError(
      `${entryLabel(seqHint)}: truncated, ${available - LENGTH_BYTES} of its ${length} bytes present`,
      seqHint,
    )
  }
  if (available - LENGTH_BYTES > length) {
    throw new CorruptLogError(
      `${entryLabel(seqHint)}: ${available - LENGTH_BYTES - length} trailing bytes after the frame`,
      seqHint,
    )
  }
  const r = new ByteReader(bytes, entryLabel(seqHint), seqHint, start + LENGTH_BYTES, end)
  const version = r.u8('format version')
  if (version !== FRAME_VERSION) {
    if (version > FRAME_VERSION) {
      r.fail(
        `frame format v${version} was written by a newer understudy (this one reads v${FRAME_VERSION}); upgrade`,
      )
    }
    r.fail(`unknown frame format version ${version}`)
  }
  const kind = r.u8('kind')
  const seq = r.varint('seq')
  r.seq = seq
  r.context = `entry ${seq}`
  const epoch = r.varint('epoch')
  if (!isEntryKind(kind)) return r.fail(`unknown entry kind ${kind}`)
  const prevHash = r.take(HASH_BYTES, 'prevHash')
  const payload = r.rest()
  if (payload.length > maxPayload)
    r.fail(`payload of ${payload.length} bytes exceeds the limit of ${maxPayload}`)
  return { seq, epoch, kind, payload, prevHash }
}

/** Decodes one whole frame; `bytes` must hold exactly that frame. Payload and prevHash are views into `bytes`. */
export function decodeEntry(bytes: Uint8Array, options: DecodeOptions = {}): LogEntry {
  return decodeFrame(bytes, 0, bytes.length, options.maxPayload ?? DEFAULT_MAX_PAYLOAD)
}

/**
 * Streaming decoder: feed it chunks as they arrive (from a socket or a file) and it
 * returns the entries they complete. Entries it returns own their bytes (they are
 * copied out of the chunks, which the caller may reuse).
 */
export class EntryDecoder {
  readonly #maxPayload: number
  #chunks: Uint8Array[] = []
  #buffered = 0
  /** seq after the last decoded entry: names the entry in errors where its own seq is unreadable. */
  #nextSeq: number | undefined
  #failed: CorruptLogError | undefined

  constructor(options: DecodeOptions = {}) {
    this.#maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD
  }

  /** Bytes received but not yet part of a whole frame. */
  get buffered(): number {
    return this.#buffered
  }

  /** Feeds a chunk; returns the entries it completed, in order. */
  push(chunk: Uint8Array): LogEntry[] {
    return this.pushFrames(chunk).map((f) => f.entry)
  }

  /** Like push, but also returns each entry's frame bytes (for the hash chain, or to forward as is). */
  pushFrames(chunk: Uint8Array): DecodedFrame[] {
    if (this.#failed !== undefined) throw this.#failed
    try {
      return this.#push(chunk)
    } catch (err) {
      if (err instanceof CorruptLogError) this.#failed = err
      throw err
    }
  }

  /** The stream ended: throws if it stopped inside a frame. */
  end(): void {
    if (this.#failed !== undefined) throw this.#failed
    if (this.#buffered > 0) {
      const seq = this.#nextSeq
      this.#failed = new CorruptLogError(
        `stream ended inside ${seq === undefined ? 'a frame' : `entry ${seq}`} (${this.#buffered} bytes of an incomplete frame)`,
        seq,
      )
      throw this.#failed
    }
  }

  #push(chunk: Uint8Array): DecodedFrame[] {
    if (chunk.length === 0) return []
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
    const out: DecodedFrame[] = []
    for (;;) {
      if (this.#buffered < LENGTH_BYTES) return out
      const head = this.#contiguous(LENGTH_BYTES)
      const length = readFrameLength(head, 0)
      checkFrameLength(length, this.#maxPayload, this.#nextSeq)
      const total = LENGTH_BYTES + length
      if (this.#buffered < total) return out
      const bytes = this.#contiguous(total)
      // copy: the frame must not alias a chunk the caller may reuse
      const frame = bytes.slice(0, total)
      this.#consume(total)
      const entry = decodeFrame(frame, 0, total, this.#maxPayload, this.#nextSeq)
      this.#nextSeq = entry.seq + 1
      out.push({ entry, frame })
    }
  }

  /** The first `n` buffered bytes as one array (merging chunks only when a frame spans them). */
  #contiguous(n: number): Uint8Array {
    const first = this.#chunks[0]!
    if (first.length >= n) return first
    const merged = new Uint8Array(this.#buffered)
    let pos = 0
    for (const c of this.#chunks) {
      merged.set(c, pos)
      pos += c.length
    }
    this.#chunks = [merged]
    return merged
  }

  #consume(n: number): void {
    const first = this.#chunks[0]!
    if (first.length === n) this.#chunks.shift()
    else this.#chunks[0] = first.subarray(n)
    this.#buffered -= n
  }
}
