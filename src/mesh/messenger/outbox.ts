/**
 * The one-way messages to one peer: a queue bounded in bytes and one long-lived
 * outbound stream, opened lazily (dialing if needed) and reopened with backoff after
 * it fails. `enqueue` never waits: when the queue is full the message is dropped, so
 * a stalled or absent peer costs at most `maxQueueBytes` and never blocks the caller.
 * Order is kept while a stream lasts; a frame handed to a stream that then dies may be
 * lost, never sent twice.
 */
import type { Logger, PeerId, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { Uint8ArrayList } from 'uint8arraylist'
import { FrameReader } from '../framing.ts'
import { sleep } from '../race-abort.ts'
import { endStream } from './closing.ts'
import { decodeFrame } from './codec.ts'
import { CLOSE_GRACE } from './constants.ts'
import { MessengerStoppedError } from './errors.ts'

export interface OutboxSettings {
  protocol: string
  maxQueueBytes: number
  openTimeout: number
  reconnectMinDelay: number
  reconnectMaxDelay: number
}

/** Frames handed to the stream in one `send`: fewer, larger writes without copying. */
const MAX_WRITE_BYTES = 256 * 1024
/** Only ERROR frames come back on a message stream; they are short. */
const MAX_REPLY_FRAME_BYTES = 4096

export class Outbox {
  readonly peer: PeerId
  queuedBytes = 0
  sent = 0
  dropped = 0
  private frames: Uint8Array[] = []
  private head = 0
  private stream: Stream | undefined
  private pumping = false
  private attempt = 0
  private retryAt = 0
  private readonly controller = new AbortController()
  private readonly settings: OutboxSettings
  private readonly connectionManager: ConnectionManager
  private readonly log: Logger
  /** Called when the outbox holds nothing (no frames, no stream), so its owner may forget it. */
  private readonly onIdle: (outbox: Outbox) => void

  constructor(
    peer: PeerId,
    settings: OutboxSettings,
    connectionManager: ConnectionManager,
    log: Logger,
    onIdle: (outbox: Outbox) => void,
  ) {
    this.peer = peer
    this.settings = settings
    this.connectionManager = connectionManager
    this.log = log
    this.onIdle = onIdle
  }

  get queuedMessages(): number {
    return this.frames.length - this.head
  }

  get connected(): boolean {
    return this.stream !== undefined
  }

  /** Queues one encoded frame; false (and counted) when the queue is full or the outbox stopped. */
  enqueue(frame: Uint8Array): boolean {
    if (this.controller.signal.aborted || this.queuedBytes + frame.byteLength > this.settings.maxQueueBytes) {
      this.dropped++
      return false
    }
    this.frames.push(frame)
    this.queuedBytes += frame.byteLength
    if (!this.pumping) void this.pump()
    return true
  }

  /** Drops what is queued and closes the stream (gracefully for what was already handed to it). */
  stop(): Promise<void> {
    this.controller.abort(new MessengerStoppedError('the messenger stopped'))
    this.frames = []
    this.head = 0
    this.queuedBytes = 0
    const stream = this.stream
    this.stream = undefined
    return stream === undefined ? Promise.resolve() : endStream(stream, CLOSE_GRACE)
  }

  private async pump(): Promise<void> {
    this.pumping = true
    const signal = this.controller.signal
    try {
      while (this.head < this.frames.length && !signal.aborted) {
        const stream = this.stream ?? (await this.open(signal))
        if (stream === undefined) return
        if (stream !== this.stream) continue // it died while we were not looking
        const batch = this.takeBatch()
        let ready: boolean
        try {
          ready = stream.send(batch.list)
        } catch (err) {
          // The stream was already closing: nothing went out, the frames stay first in line.
          this.unTake(batch.count, batch.list.byteLength)
          this.lost(stream, err)
          continue
        }
        this.sent += batch.count
        this.compact()
        if (!ready) {
          try {
            await stream.onDrain({ signal })
          } catch (err) {
            if (!signal.aborted) this.lost(stream, err)
          }
        }
      }
    } finally {
      this.pumping = false
      if (this.head >= this.frames.length) {
        this.frames = []
        this.head = 0
        if (this.stream === undefined) this.onIdle(this)
      } else if (!signal.aborted) {
        void this.pump() // frames arrived while the loop was ending
      }
    }
  }

  /** Takes frames from the head of the queue into one list (no copy). */
  private takeBatch(): { list: Uint8ArrayList; count: number } {
    const list = new Uint8ArrayList()
    let count = 0
    while (this.head < this.frames.length) {
      const frame = this.frames[this.head] as Uint8Array
      if (count > 0 && list.byteLength + frame.byteLength > MAX_WRITE_BYTES) break
      list.append(frame)
      this.head++
      count++
    }
    this.queuedBytes -= list.byteLength
    return { list, count }
  }

  /** Puts a batch the stream refused back at the head of the queue. */
  private unTake(count: number, bytes: number): void {
    this.head -= count
    this.queuedBytes += bytes
  }

  /** Forgets sent frames once they are most of the array, so a long-lived queue does not grow. */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head)
      this.head = 0
    }
  }

  /** Opens the stream, waiting out the backoff first; undefined once stopped. */
  private async open(signal: AbortSignal): Promise<Stream | undefined> {
    for (;;) {
      if (signal.aborted) return undefined
      const wait = this.retryAt - Date.now()
      if (wait > 0) {
        try {
          await sleep(wait, signal)
        } catch {
          return undefined
        }
      }
      try {
        const stream = await this.connectionManager.openStream(this.peer, this.settings.protocol, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.settings.openTimeout)]),
        })
        if (signal.aborted) {
          stream.abort(new MessengerStoppedError('the messenger stopped'))
          return undefined
        }
        this.attempt = 0
        this.attach(stream)
        this.log('message stream to %p open', this.peer)
        return stream
      } catch (err) {
        if (signal.aborted) return undefined
        this.log('cannot open a message stream to %p - %e', this.peer, err)
        this.backoff()
      }
    }
  }

  private backoff(): void {
    const s = this.settings
    const base = Math.min(s.reconnectMaxDelay, s.reconnectMinDelay * 2 ** this.attempt)
    this.attempt++
    this.retryAt = Date.now() + base / 2 + Math.random() * (base / 2)
  }

  private attach(stream: Stream): void {
    this.stream = stream
    const reader = new FrameReader(MAX_REPLY_FRAME_BYTES)
    stream.addEventListener('close', (evt) => {
      this.lost(stream, evt.error ?? new Error('the stream closed'))
    })
    stream.addEventListener('remoteCloseWrite', () => {
      // The peer is leaving (its messenger stops): finish ours, reopen on the next message.
      this.lost(stream, new Error('the peer closed the stream'))
    })
    stream.addEventListener('message', (evt) => {
      // The peer speaks on our message stream only to say why it is closing it.
      try {
        for (const body of reader.push(evt.data)) {
          const frame = decodeFrame(body)
          if (frame.type === 'error') {
            this.log.error('%p refused our message stream: %s %s', this.peer, frame.code, frame.message)
          } else {
            this.log.error('%p sent an unexpected %s frame on our message stream', this.peer, frame.type)
          }
        }
      } catch (err) {
        this.log.error('%p sent an undecodable frame on our message stream - %e', this.peer, err)
        stream.abort(err as Error)
      }
    })
  }

  /** The stream failed: forget it and back off before the next one. */
  private lost(stream: Stream, err: unknown): void {
    if (this.stream !== stream) return
    this.stream = undefined
    this.log('message stream to %p lost - %e', this.peer, err)
    this.backoff()
    void endStream(stream, CLOSE_GRACE)
    if (!this.pumping && this.head >= this.frames.length) this.onIdle(this)
  }
}
