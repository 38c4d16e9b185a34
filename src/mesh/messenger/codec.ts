/**
 * Wire format of the messenger, version 1. Every frame is length-prefixed (see
 * ../framing.ts); its body starts with the version byte and a type byte. Payloads
 * run to the end of the frame, so they need no length of their own.
 *
 *   MESSAGE   topic(len, utf8) payload…     one-way, on a sender's long-lived stream
 *   REQUEST   topic(len, utf8) payload…     first and only frame of a request stream
 *   RESPONSE  payload…                      the answer, then the responder closes
 *   ERROR     source code(len, [A-Z0-9_]) message(len, utf8)
 *
 * ERROR's source says who failed: the messenger (a refusal, a bad frame) or the
 * request handler (its own typed error). The decoder is strict: unknown version,
 * type or source, empty or oversize topics, bad UTF-8 and trailing bytes are errors.
 */
import { MalformedFrameError, UnsupportedVersionError } from '../errors.ts'
import { decodeUtf8, encodeUtf8, FrameCursor, varintLength, writeVarint } from '../framing.ts'
import { MAX_ERROR_CODE_BYTES, MAX_ERROR_MESSAGE_BYTES, MAX_TOPIC_BYTES, WIRE_VERSION } from './constants.ts'
import { InvalidTopicError } from './errors.ts'

export const FrameType = { Message: 1, Request: 2, Response: 3, Error: 4 } as const
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

export type ErrorSource = 'messenger' | 'handler'
const SOURCE_BYTE: Record<ErrorSource, number> = { messenger: 0, handler: 1 }

export interface MessageFrame {
  type: 'message'
  topic: string
  payload: Uint8Array
}
export interface RequestFrame {
  type: 'request'
  topic: string
  payload: Uint8Array
}
export interface ResponseFrame {
  type: 'response'
  payload: Uint8Array
}
export interface ErrorFrame {
  type: 'error'
  source: ErrorSource
  code: string
  message: string
}
export type Frame = MessageFrame | RequestFrame | ResponseFrame | ErrorFrame

const CODE_PATTERN = /^[A-Z0-9_]+$/

/** The topic's UTF-8 bytes, or an InvalidTopicError when it cannot travel. */
export function topicBytes(topic: string): Uint8Array {
  if (typeof topic !== 'string' || topic.length === 0)
    throw new InvalidTopicError('a topic must be a non-empty string')
  if (!topic.isWellFormed()) throw new InvalidTopicError('a topic must be well-formed Unicode')
  const bytes = encodeUtf8(topic)
  if (bytes.byteLength > MAX_TOPIC_BYTES) {
    throw new InvalidTopicError(
      `topic of ${bytes.byteLength} bytes exceeds the maximum of ${MAX_TOPIC_BYTES}`,
    )
  }
  return bytes
}

/** Body length (without the length prefix) of a MESSAGE or REQUEST frame. */
export function topicFrameBodyLength(topic: Uint8Array, payloadLength: number): number {
  return 2 + varintLength(topic.byteLength) + topic.byteLength + payloadLength
}

/** Decodes one frame body (without its length prefix). Throws MalformedFrameError or UnsupportedVersionError. */
export function decodeFrame(body: Uint8Array): Frame {
  const cur = new FrameCursor(body)
  const version = cur.u8('version')
  if (version !== WIRE_VERSION) {
    throw new UnsupportedVersionError(`messenger wire version ${version}; this agent speaks ${WIRE_VERSION}`)
  }
  const type = cur.u8('frame type')
  switch (type) {
    case FrameType.Message:
    case FrameType.Request: {
      const topic = decodeTopic(cur)
      const payload = cur.bytes(cur.remaining, 'payload')
      return { type: type === FrameType.Message ? 'message' : 'request', topic, payload }
    }
    case FrameType.Response:
      return { type: 'response', payload: cur.bytes(cur.remaining, 'payload') }
    case FrameType.Error: {
      const sourceByte = cur.u8('error source')
      if (sourceByte > 1) throw new MalformedFrameError(`unknown error source ${sourceByte}`)
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
      return { type: 'error', source: sourceByte === 0 ? 'messenger' : 'handler', code, message }
    }
    default:
      throw new MalformedFrameError(`unknown frame type ${type}`)
  }
}

function decodeTopic(cur: FrameCursor): string {
  const length = cur.varint('topic length')
  if (length === 0 || length > MAX_TOPIC_BYTES) {
    throw new MalformedFrameError(`topic length ${length} outside 1..${MAX_TOPIC_BYTES}`)
  }
  return decodeUtf8(cur.bytes(length, 'topic'), 'topic')
}

/** MESSAGE or REQUEST with its length prefix, in one buffer (the payload is copied: callers may reuse theirs). */
export function encodeTopicFrame(
  type: 'message' | 'request',
  topic: Uint8Array,
  payload: Uint8Array,
): Uint8Array {
  const bodyLength = topicFrameBodyLength(topic, payload.byteLength)
  const buf = new Uint8Array(varintLength(bodyLength) + bodyLength)
  let o = writeVarint(bodyLength, buf, 0)
  buf[o++] = WIRE_VERSION
  buf[o++] = type === 'message' ? FrameType.Message : FrameType.Request
  o = writeVarint(topic.byteLength, buf, o)
  buf.set(topic, o)
  buf.set(payload, o + topic.byteLength)
  return buf
}

export function encodeResponse(payload: Uint8Array): Uint8Array {
  const bodyLength = 2 + payload.byteLength
  const buf = new Uint8Array(varintLength(bodyLength) + bodyLength)
  let o = writeVarint(bodyLength, buf, 0)
  buf[o++] = WIRE_VERSION
  buf[o++] = FrameType.Response
  buf.set(payload, o)
  return buf
}

/** An ERROR frame; a code that is not [A-Z0-9_] is sent as ERR_INTERNAL, an overlong message is cut. */
export function encodeError(source: ErrorSource, code: string, message: string): Uint8Array {
  const safeCode = encodeUtf8(
    CODE_PATTERN.test(code) && code.length <= MAX_ERROR_CODE_BYTES ? code : 'ERR_INTERNAL',
  )
  const text = truncateUtf8(message, MAX_ERROR_MESSAGE_BYTES)
  const bodyLength =
    3 +
    varintLength(safeCode.byteLength) +
    safeCode.byteLength +
    varintLength(text.byteLength) +
    text.byteLength
  const buf = new Uint8Array(varintLength(bodyLength) + bodyLength)
  let o = writeVarint(bodyLength, buf, 0)
  buf[o++] = WIRE_VERSION
  buf[o++] = FrameType.Error
  buf[o++] = SOURCE_BYTE[source]
  o = writeVarint(safeCode.byteLength, buf, o)
  buf.set(safeCode, o)
  o = writeVarint(text.byteLength, buf, o + safeCode.byteLength)
  buf.set(text, o)
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
