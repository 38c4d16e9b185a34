/**
 * Wire format of the log stream, version 1. Every frame body starts with the
 * version byte and a type byte; seqs travel as "next seq" counts (seq + 1) so no
 * negative number is ever encoded.
 *
 *   HELLO     S→R  logId(len, utf8) epoch
 *   WELCOME   R→S  nextSeq lastEpoch highestEpoch windowBytes windowEntries
 *   BATCH     S→R  epoch commitNext firstSeq count {entryEpoch len bytes}×count
 *   HEARTBEAT S→R  epoch commitNext headNext
 *   ACK       R→S  nextSeq
 *   ERROR     both code(len, [A-Z0-9_]) message(len, utf8)
 *
 * The decoder is strict: unknown version or type, truncation, trailing bytes,
 * non-minimal varints, empty or oversized batches, entry epochs that go backwards
 * or exceed the batch epoch are all errors.
 */
import { FrameTooLargeError, MalformedFrameError, UnsupportedVersionError } from '../errors.ts'
import { decodeUtf8, encodeUtf8, FrameCursor, varintLength, writeVarint } from '../framing.ts'
import { MAX_ERROR_CODE_BYTES, MAX_ERROR_MESSAGE_BYTES, MAX_LOG_ID_BYTES, WIRE_VERSION } from './constants.ts'

/** One entry of the stream: ordered, epoch-stamped, opaque. */
export interface StreamEntry {
  seq: number
  epoch: number
  bytes: Uint8Array
}

export const FrameType = {
  Hello: 1,
  Welcome: 2,
  Batch: 3,
  Heartbeat: 4,
  Ack: 5,
  Error: 6,
} as const
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

export interface HelloFrame {
  type: 'hello'
  logId: string
  epoch: number
}
export interface WelcomeFrame {
  type: 'welcome'
  /** The receiver has stored every seq below this one. */
  nextSeq: number
  /** Epoch of the entry at nextSeq - 1 (0 when the log is empty). */
  lastEpoch: number
  highestEpoch: number
  windowBytes: number
  windowEntries: number
}
export interface BatchFrame {
  type: 'batch'
  epoch: number
  /** Highest committed seq the sender knows of, -1 for none. */
  commitSeq: number
  entries: StreamEntry[]
}
export interface HeartbeatFrame {
  type: 'heartbeat'
  epoch: number
  commitSeq: number
  /** One past the newest seq the sender knows of: what the receiver lags behind. */
  headSeq: number
}
export interface AckFrame {
  type: 'ack'
  nextSeq: number
}
export interface ErrorFrame {
  type: 'error'
  code: string
  message: string
}
export type Frame = HelloFrame | WelcomeFrame | BatchFrame | HeartbeatFrame | AckFrame | ErrorFrame

export interface CodecLimits {
  maxEntryBytes: number
  maxBatchEntries: number
}

const CODE_PATTERN = /^[A-Z0-9_]+$/

/** Decodes one frame body (without its length prefix). Throws a LogStreamError subclass. */
export function decodeFrame(body: Uint8Array, limits: CodecLimits): Frame {
  const cur = new FrameCursor(body)
  const version = cur.u8('version')
  if (version !== WIRE_VERSION) {
    throw new UnsupportedVersionError(`log stream wire version ${version}; this agent speaks ${WIRE_VERSION}`)
  }
  const type = cur.u8('frame type')
  switch (type) {
    case FrameType.Hello: {
      const idLength = cur.varint('log id length')
      if (idLength === 0 || idLength > MAX_LOG_ID_BYTES) {
        throw new MalformedFrameError(`log id length ${idLength} outside 1..${MAX_LOG_ID_BYTES}`)
      }
      const logId = decodeUtf8(cur.bytes(idLength, 'log id'), 'log id')
      const epoch = cur.varint('epoch')
      cur.end('HELLO')
      return { type: 'hello', logId, epoch }
    }
    case FrameType.Welcome: {
      const nextSeq = cur.varint('next seq')
      const lastEpoch = cur.varint('last epoch')
      const highestEpoch = cur.varint('highest epoch')
      const windowBytes = cur.varint('window bytes')
      const windowEntries = cur.varint('window entries')
      cur.end('WELCOME')
      if (windowBytes === 0 || windowEntries === 0)
        throw new MalformedFrameError('WELCOME grants an empty window')
      if (lastEpoch > highestEpoch) throw new MalformedFrameError('WELCOME last epoch above highest epoch')
      if (nextSeq === 0 && lastEpoch !== 0)
        throw new MalformedFrameError('WELCOME empty log with a last epoch')
      return { type: 'welcome', nextSeq, lastEpoch, highestEpoch, windowBytes, windowEntries }
    }
    case FrameType.Batch:
      return decodeBatch(cur, limits)
    case FrameType.Heartbeat: {
      const epoch = cur.varint('epoch')
      const commitSeq = cur.varint('commit') - 1
      const headSeq = cur.varint('head')
      cur.end('HEARTBEAT')
      return { type: 'heartbeat', epoch, commitSeq, headSeq }
    }
    case FrameType.Ack: {
      const nextSeq = cur.varint('next seq')
      cur.end('ACK')
      return { type: 'ack', nextSeq }
    }
    case FrameType.Error: {
      const codeLength = cur.varint('code length')
      if (codeLength === 0 || codeLength > MAX_ERROR_CODE_BYTES) {
        throw new MalformedFrameError(`error code length ${codeLength} outside 1..${MAX_ERROR_CODE_BYTES}`)
      }
      const code = decodeUtf8(cur.bytes(codeLength, 'error code'), 'error code')
      if (!CODE_PATTERN.test(code)) throw new MalformedFrameError('error code is not [A-Z0-9_]+')
      const messageLength = cur.varint('message length')
      if (messageLength > MAX_ERROR_MESSAGE_BYTES) {
        throw new MalformedFrameError(`error message longer than ${MAX_ERROR_MESSAGE_BYTES} bytes`)
      }
      const message = decodeUtf8(cur.bytes(messageLength, 'error message'), 'error message')
      cur.end('ERROR')
      return { type: 'error', code, message }
    }
    default:
      throw new MalformedFrameError(`unknown frame type ${type}`)
  }
}

function decodeBatch(cur: FrameCursor, limits: CodecLimits): BatchFrame {
  const epoch = cur.varint('epoch')
  const commitSeq = cur.varint('commit') - 1
  const firstSeq = cur.varint('first seq')
  const count = cur.varint('entry count')
  if (count === 0) throw new MalformedFrameError('empty BATCH')
  if (count > limits.maxBatchEntries) {
    throw new FrameTooLargeError(`BATCH of ${count} entries exceeds the maximum of ${limits.maxBatchEntries}`)
  }
  if (!Number.isSafeInteger(firstSeq + count)) throw new MalformedFrameError('BATCH seqs exceed 2^53')
  const entries: StreamEntry[] = new Array(count)
  let previousEpoch = 0
  for (let i = 0; i < count; i++) {
    const entryEpoch = cur.varint('entry epoch')
    if (entryEpoch > epoch)
      throw new MalformedFrameError(`entry epoch ${entryEpoch} above batch epoch ${epoch}`)
    if (entryEpoch < previousEpoch) throw new MalformedFrameError('entry epochs go backwards within a BATCH')
    previousEpoch = entryEpoch
    const length = cur.varint('entry length')
    if (length > limits.maxEntryBytes) {
      throw new FrameTooLargeError(`entry of ${length} bytes exceeds the maximum of ${limits.maxEntryBytes}`)
    }
    entries[i] = { seq: firstSeq + i, epoch: entryEpoch, bytes: cur.bytes(length, 'entry') }
  }
  cur.end('BATCH')
  return { type: 'batch', epoch, commitSeq, entries }
}

/** Size of a BATCH frame body holding these entries, before the length prefix. */
export function batchEntryCost(entry: StreamEntry): number {
  return varintLength(entry.epoch) + varintLength(entry.bytes.byteLength) + entry.bytes.byteLength
}

/** Encodes a frame with its length prefix, ready for `stream.send`. */
export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.type) {
    case 'hello': {
      const id = encodeUtf8(frame.logId)
      return build(
        FrameType.Hello,
        varintLength(id.byteLength) + id.byteLength + varintLength(frame.epoch),
        (b, o) => {
          o = writeVarint(id.byteLength, b, o)
          b.set(id, o)
          return writeVarint(frame.epoch, b, o + id.byteLength)
        },
      )
    }
    case 'welcome': {
      const fields = [
        frame.nextSeq,
        frame.lastEpoch,
        frame.highestEpoch,
        frame.windowBytes,
        frame.windowEntries,
      ]
      return buildVarints(FrameType.Welcome, fields)
    }
    case 'batch':
      return encodeBatch(frame)
    case 'heartbeat':
      return buildVarints(FrameType.Heartbeat, [frame.epoch, frame.commitSeq + 1, frame.headSeq])
    case 'ack':
      return buildVarints(FrameType.Ack, [frame.nextSeq])
    case 'error': {
      const code = encodeUtf8(frame.code)
      const message = truncateUtf8(frame.message, MAX_ERROR_MESSAGE_BYTES)
      const size =
        varintLength(code.byteLength) +
        code.byteLength +
        varintLength(message.byteLength) +
        message.byteLength
      return build(FrameType.Error, size, (b, o) => {
        o = writeVarint(code.byteLength, b, o)
        b.set(code, o)
        o = writeVarint(message.byteLength, b, o + code.byteLength)
        b.set(message, o)
        return o + message.byteLength
      })
    }
  }
}

function encodeBatch(frame: BatchFrame): Uint8Array {
  const first = frame.entries[0]
  if (first === undefined) throw new RangeError('a BATCH needs at least one entry')
  let size =
    varintLength(frame.epoch) +
    varintLength(frame.commitSeq + 1) +
    varintLength(first.seq) +
    varintLength(frame.entries.length)
  for (const entry of frame.entries) size += batchEntryCost(entry)
  return build(FrameType.Batch, size, (b, o) => {
    o = writeVarint(frame.epoch, b, o)
    o = writeVarint(frame.commitSeq + 1, b, o)
    o = writeVarint(first.seq, b, o)
    o = writeVarint(frame.entries.length, b, o)
    for (const entry of frame.entries) {
      o = writeVarint(entry.epoch, b, o)
      o = writeVarint(entry.bytes.byteLength, b, o)
      b.set(entry.bytes, o)
      o += entry.bytes.byteLength
    }
    return o
  })
}

function buildVarints(type: FrameType, fields: number[]): Uint8Array {
  let size = 0
  for (const field of fields) size += varintLength(field)
  return build(type, size, (b, o) => {
    for (const field of fields) o = writeVarint(field, b, o)
    return o
  })
}

/** Allocates prefix + version + type + fields once and lets `write` fill the fields. */
function build(
  type: FrameType,
  fieldBytes: number,
  write: (buf: Uint8Array, offset: number) => number,
): Uint8Array {
  const bodyLength = 2 + fieldBytes
  const buf = new Uint8Array(varintLength(bodyLength) + bodyLength)
  let offset = writeVarint(bodyLength, buf, 0)
  buf[offset++] = WIRE_VERSION
  buf[offset++] = type
  const end = write(buf, offset)
  if (end !== buf.byteLength) throw new Error(`frame size mismatch: wrote ${end} of ${buf.byteLength} bytes`)
  return buf
}

function truncateUtf8(text: string, maxBytes: number): Uint8Array {
  const bytes = encodeUtf8(text)
  if (bytes.byteLength <= maxBytes) return bytes
  // Cut on a character boundary so the receiver's strict decoder accepts it.
  let end = maxBytes
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--
  return bytes.subarray(0, end)
}
