/**
 * One end of a log stream as a channel of frames: incoming bytes are cut and
 * decoded strictly and handed to `onFrame` in order; the first error (a bad frame,
 * an ERROR frame from the peer, a timeout, the stream closing) ends the channel
 * exactly once with a typed error. A locally detected error is reported to the
 * peer in an ERROR frame before the stream is closed.
 */
import type { Logger, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { LogStreamError, logStreamErrorFromWire, StreamClosedError } from '../errors.ts'
import { FrameReader } from '../framing.ts'
import { type CodecLimits, decodeFrame, encodeFrame, type Frame } from './codec.ts'

export interface FrameChannelInit {
  maxFrameBytes: number
  limits: CodecLimits
  log: Logger
  /** Called synchronously for each decoded frame; throwing a LogStreamError ends the channel with it. */
  onFrame(frame: Frame): void
  /** Called once when the channel ends, with why. */
  onEnd(err: LogStreamError): void
}

/** How long a closing end waits for its ERROR frame to be flushed before resetting the stream. */
const CLOSE_GRACE = 1000

export class FrameChannel {
  readonly stream: Stream
  /** Date.now() of the last frame received: liveness of the peer. */
  lastHeard: number
  private readonly reader: FrameReader
  private readonly init: FrameChannelInit
  private endedWith: LogStreamError | undefined

  constructor(stream: Stream, init: FrameChannelInit) {
    this.stream = stream
    this.init = init
    this.reader = new FrameReader(init.maxFrameBytes)
    this.lastHeard = Date.now()
    this.onMessage = this.onMessage.bind(this)
    this.onClose = this.onClose.bind(this)
    this.onRemoteCloseWrite = this.onRemoteCloseWrite.bind(this)
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('close', this.onClose)
    stream.addEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
  }

  get ended(): boolean {
    return this.endedWith !== undefined
  }

  get error(): LogStreamError | undefined {
    return this.endedWith
  }

  /** Sends a frame, waiting for the stream to drain when its buffer is full. */
  async send(frame: Frame, signal?: AbortSignal): Promise<void> {
    await this.sendBytes(encodeFrame(frame), signal)
  }

  async sendBytes(bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (this.endedWith !== undefined) throw this.endedWith
    if (!this.stream.send(bytes)) await this.stream.onDrain({ signal })
  }

  /**
   * Ends the channel with `err`. A local error is sent to the peer first (best effort:
   * the stream may already be gone), then the stream is closed.
   */
  fail(err: LogStreamError): void {
    if (this.endedWith !== undefined) return
    this.endedWith = err
    this.detach()
    if (!err.remote && this.stream.status === 'open' && this.stream.writeStatus === 'writable') {
      try {
        this.stream.send(encodeFrame({ type: 'error', code: err.code, message: err.message }))
      } catch (sendErr) {
        this.init.log('could not send %s to the peer - %e', err.code, sendErr)
      }
    }
    this.stream
      .close({ signal: AbortSignal.timeout(CLOSE_GRACE) })
      .catch((closeErr: unknown) => this.init.log('graceful close failed - %e', closeErr))
      .finally(() => this.stream.abort(err))
    this.init.onEnd(err)
  }

  /** Ends the channel without an error frame, e.g. when the local side stops. */
  close(err: LogStreamError): void {
    if (this.endedWith !== undefined) return
    this.endedWith = err
    this.detach()
    this.stream.abort(err)
    this.init.onEnd(err)
  }

  private detach(): void {
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('close', this.onClose)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
  }

  private onMessage(evt: { data: Uint8Array | Uint8ArrayList }): void {
    if (this.endedWith !== undefined) return
    try {
      for (const body of this.reader.push(evt.data)) {
        const frame = decodeFrame(body, this.init.limits)
        this.lastHeard = Date.now()
        if (frame.type === 'error') {
          this.fail(logStreamErrorFromWire(frame.code, frame.message))
          return
        }
        this.init.onFrame(frame)
        if (this.endedWith !== undefined) return
      }
    } catch (err) {
      this.fail(asLogStreamError(err))
    }
  }

  private onClose(evt: { error?: Error }): void {
    const reason = evt.error != null ? `stream closed: ${evt.error.message}` : 'stream closed by the peer'
    this.fail(new StreamClosedError(reason, { cause: evt.error, remote: true }))
  }

  private onRemoteCloseWrite(): void {
    // The protocol never half-closes a live stream: the peer is leaving.
    this.fail(new StreamClosedError('the peer closed its end of the stream', { remote: true }))
  }
}

/** Frame handlers throw LogStreamErrors; anything else is a bug, still ended cleanly but kept as cause. */
export function asLogStreamError(err: unknown): LogStreamError {
  if (err instanceof LogStreamError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new LogStreamError('ERR_INTERNAL', `internal error: ${message}`, { cause: err })
}
