import type { Stream } from '@libp2p/interface'
/**
 * Length-prefixed framing shared by the mesh protocols: each frame is an unsigned
 * LEB128 varint length, then that many bytes. Decoding is strict: non-minimal
 * varints, values beyond 2^53, empty and oversized frames are errors, and an
 * oversized frame is refused as soon as its length is read, before it is buffered.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { FrameTooLargeError, MalformedFrameError } from './errors.ts'

/** A varint never needs more than 8 bytes for a value up to Number.MAX_SAFE_INTEGER. */
const MAX_VARINT_BYTES = 8

export function varintLength(value: number): number {
  let n = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    n++
  }
  return n
}

/** Writes `value` at `offset`, returns the offset after it. */
export function writeVarint(value: number, buf: Uint8Array, offset: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a varint value: ${value}`)
  while (value >= 0x80) {
    buf[offset++] = (value % 0x80) | 0x80
    value = Math.floor(value / 0x80)
  }
  buf[offset++] = value
  return offset
}

/** A cursor over one frame body; every read checks bounds and throws MalformedFrameError. */
export class FrameCursor {
  readonly buf: Uint8Array
  offset: number

  constructor(buf: Uint8Array, offset = 0) {
    this.buf = buf
    this.offset = offset
  }

  get remaining(): number {
    return this.buf.byteLength - this.offset
  }

  u8(what: string): number {
    const b = this.buf[this.offset]
    if (b === undefined) throw new MalformedFrameError(`frame ends before ${what}`)
    this.offset++
    return b
  }

  varint(what: string): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.buf[this.offset]
      if (b === undefined) throw new MalformedFrameError(`frame ends inside varint ${what}`)
      this.offset++
      value += (b & 0x7f) * scale
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw new MalformedFrameError(`non-minimal varint for ${what}`)
        if (!Number.isSafeInteger(value)) throw new MalformedFrameError(`varint ${what} exceeds 2^53`)
        return value
      }
      scale *= 0x80
    }
    throw new MalformedFrameError(`varint ${what} is longer than ${MAX_VARINT_BYTES} bytes`)
  }

  /** A view of the next `length` bytes (no copy). */
  bytes(length: number, what: string): Uint8Array {
    if (length > this.remaining) {
      throw new MalformedFrameError(`${what} claims ${length} bytes, only ${this.remaining} left in frame`)
    }
    const out = this.buf.subarray(this.offset, this.offset + length)
    this.offset += length
    return out
  }

  /** The frame must be fully consumed: trailing bytes mean a confused or hostile peer. */
  end(what: string): void {
    if (this.remaining !== 0) throw new MalformedFrameError(`${this.remaining} trailing bytes after ${what}`)
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
const utf8Encoder = new TextEncoder()

export function encodeUtf8(text: string): Uint8Array {
  return utf8Encoder.encode(text)
}

/** Strict UTF-8: invalid sequences are a malformed frame, not replacement characters. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes)
  } catch (err) {
    throw new MalformedFrameError(`${what} is not valid UTF-8`, { cause: err })
  }
}

/** Prefixes a body with its varint length, in one buffer. */
export function lengthPrefixed(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(varintLength(body.byteLength) + body.byteLength)
  const offset = writeVarint(body.byteLength, out, 0)
  out.set(body, offset)
  return out
}

/**
 * Cuts an incoming byte stream into frame bodies. It holds at most one partial
 * frame, so memory is bounded by `maxFrameBytes`.
 */
export class FrameReader {
  readonly maxFrameBytes: number
  private readonly pending = new Uint8ArrayList()
  /** Length of the frame being assembled, once its prefix has been read. */
  private expected: number | undefined

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes
  }

  /** Bytes received but not yet returned as a frame. */
  get buffered(): number {
    return this.pending.byteLength
  }

  /** Appends bytes and returns the complete frame bodies they finish, in order. */
  push(chunk: Uint8Array | Uint8ArrayList): Uint8Array[] {
    this.pending.append(chunk)
    const frames: Uint8Array[] = []
    for (;;) {
      if (this.expected === undefined) {
        const expected = this.readLength()
        if (expected === undefined) return frames
        this.expected = expected
      }
      if (this.pending.byteLength < this.expected) return frames
      frames.push(this.pending.subarray(0, this.expected))
      this.pending.consume(this.expected)
      this.expected = undefined
    }
  }

  private readLength(): number | undefined {
    let value = 0
    let scale = 1
    const available = Math.min(this.pending.byteLength, MAX_VARINT_BYTES)
    for (let i = 0; i < available; i++) {
      const b = this.pending.get(i)
      value += (b & 0x7f) * scale
      if (value > this.maxFrameBytes) {
        throw new FrameTooLargeError(`frame length exceeds the maximum of ${this.maxFrameBytes} bytes`)
      }
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw new MalformedFrameError('non-minimal varint frame length')
        if (value === 0) throw new MalformedFrameError('empty frame')
        this.pending.consume(i + 1)
        return value
      }
      scale *= 0x80
    }
    if (this.pending.byteLength >= MAX_VARINT_BYTES) {
      throw new MalformedFrameError(`frame length varint longer than ${MAX_VARINT_BYTES} bytes`)
    }
    return undefined
  }
}

/** How one caller of readFirstFrame names what can go wrong. */
export interface FirstFrameOptions {
  maxFrameBytes: number
  signal: AbortSignal
  /** The frames of the first chunk that completed one: returns the frame, or throws (e.g. trailing bytes). */
  accept?: (frames: Uint8Array[], reader: FrameReader) => Uint8Array
  /** A bad frame or a throw from `accept`, as the caller's error. */
  failed: (err: unknown) => Error
  /** The peer ended the stream before a frame came. */
  closed: () => Error
  /** `signal` aborted first. */
  aborted: (reason: unknown) => Error
  /**
   * Also notice a stream that was already over when listening began (the peer answered and reset it
   * before we listened: its buffered data is dispatched first, in a microtask).
   */
  noticeEarlyClose?: boolean
}

/** Resolves with the first frame a peer sends on `stream` (a request's answer, a status response). */
export function readFirstFrame(stream: Stream, options: FirstFrameOptions): Promise<Uint8Array> {
  const { signal } = options
  const reader = new FrameReader(options.maxFrameBytes)
  const result = Promise.withResolvers<Uint8Array>()
  let settled = false
  const finish = (err: Error | undefined, frame?: Uint8Array): void => {
    if (settled) return
    settled = true
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('close', onClose)
    stream.removeEventListener('remoteCloseWrite', onClose)
    signal.removeEventListener('abort', onAbort)
    if (err !== undefined) result.reject(err)
    else if (frame !== undefined) result.resolve(frame)
  }
  const onMessage = (evt: { data: Uint8Array | Uint8ArrayList }): void => {
    try {
      const frames = reader.push(evt.data)
      if (frames.length === 0) return
      finish(undefined, options.accept ? options.accept(frames, reader) : frames[0])
    } catch (err) {
      finish(options.failed(err))
    }
  }
  const onClose = (): void => finish(options.closed())
  const onAbort = (): void => finish(options.aborted(signal.reason))

  if (signal.aborted) {
    onAbort()
    return result.promise
  }
  stream.addEventListener('message', onMessage)
  stream.addEventListener('close', onClose)
  stream.addEventListener('remoteCloseWrite', onClose)
  signal.addEventListener('abort', onAbort, { once: true })
  if (options.noticeEarlyClose) {
    queueMicrotask(() => {
      if (stream.status !== 'open' || stream.readableEnded) onClose()
    })
  }
  return result.promise
}
