/**
 * The sending end of a log towards one receiver. It keeps one long-lived stream
 * open, reconnecting with backoff; on every (re)connect the receiver announces what
 * it has stored and the sender re-reads from the owner's storage (`readFrom`) just
 * after it, so nothing is skipped or sent twice. Entries are pulled from the source
 * only while the receiver's window has room: a slow receiver slows the pull, and
 * the sender holds at most one window of unacknowledged entries.
 */
import type { AbortOptions, ComponentLogger, Logger, PeerId } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  type LogStreamError,
  MalformedFrameError,
  OutOfOrderError,
  PeerTimeoutError,
  ResumeRefusedError,
  SourceFailedError,
  StaleEpochError,
  StreamClosedError,
} from '../errors.ts'
import { raceAbort, sleep } from '../race-abort.ts'
import { encodeFrame, type Frame, type StreamEntry, type WelcomeFrame } from './codec.ts'
import { afterReadyWork, EntryPuller, NOT_READY, type SourceItem } from './entry-puller.ts'
import { asLogStreamError, FrameChannel } from './frame-channel.ts'
import type { Awaitable } from './receiver.ts'

/** What the receiver told us when the stream opened. */
export interface ResumeState {
  /** The receiver stored every seq below this one; sending resumes here. */
  nextSeq: number
  /** Epoch of the receiver's entry at nextSeq - 1 (0 when it is empty). */
  lastEpoch: number
  highestEpoch: number
}

export interface LogSenderInit {
  logId: string
  /** This sender's epoch (the primary's term); every entry's epoch must be <= it. */
  epoch: number
  /**
   * Entries from `seq` on, in seq order, read from the owner's storage, one at a time or
   * in arrays (cheaper per entry: a level iterator's `nextv`). It may wait for new
   * entries (a tail) or end when caught up; then `notify()` restarts it. It is read only
   * as fast as the receiver's window allows.
   */
  readFrom(seq: number, options: { signal: AbortSignal }): AsyncIterable<SourceItem>
  /** Highest committed seq known at start; -1 for none. */
  commitSeq?: number
  /** Caps on unacknowledged payload; the receiver's grant may lower them. */
  windowBytes?: number
  windowEntries?: number
  maxBatchBytes?: number
  maxBatchEntries?: number
  maxEntryBytes?: number
  heartbeatInterval?: number
  peerTimeout?: number
  handshakeTimeout?: number
  reconnectMinDelay?: number
  reconnectMaxDelay?: number
  /**
   * Called on every (re)connect before anything is sent; throw to refuse resuming
   * there (for example when the receiver holds a divergent tail). Refusal stops the sender.
   */
  checkResume?(state: ResumeState, options: AbortOptions): Awaitable<void>
  /** The receiver durably stored every seq up to `ackedSeq`. */
  onAck?(ackedSeq: number): void
  onConnect?(state: ResumeState): void
  /** The stream was lost; the sender will reconnect. */
  onDisconnect?(err: LogStreamError): void
}

export interface LogSender {
  readonly peer: PeerId | Multiaddr
  readonly logId: string
  readonly epoch: number
  /** Highest seq the receiver acknowledged as stored; -1 for none. */
  readonly ackedSeq: number
  /** Highest seq sent on the current stream; -1 for none. */
  readonly sentSeq: number
  /** Payload bytes sent and not yet acknowledged: what this sender holds for the receiver. */
  readonly bufferedBytes: number
  readonly bufferedEntries: number
  readonly connected: boolean
  /** Settles when the sender stops: undefined after stop(), the error when it was fenced or failed for good. */
  readonly stopped: Promise<LogStreamError | undefined>
  /** New entries are in storage (up to `headSeq` when given); restarts a source that had ended. */
  notify(headSeq?: number): void
  /** The group committed up to `seq`; receivers learn it with the next batch or heartbeat. */
  setCommit(seq: number): void
  /**
   * Resolves once the receiver acknowledged `seq`; rejects if the sender stops first. No
   * default timeout: how long to wait for a lagging shadow is the group's decision.
   */
  waitForAck(seq: number, options?: AbortOptions): Promise<void>
  stop(): Promise<void>
}

export interface SenderSettings {
  protocol: string
  windowBytes: number
  windowEntries: number
  maxBatchBytes: number
  maxBatchEntries: number
  maxEntryBytes: number
  maxFrameBytes: number
  heartbeatInterval: number
  peerTimeout: number
  handshakeTimeout: number
  reconnectMinDelay: number
  reconnectMaxDelay: number
}

export interface SenderComponents {
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

/** Errors after which retrying cannot help: the owner must act (new epoch, new config, repair). */
const FATAL = new Set([
  'ERR_STALE_EPOCH',
  'ERR_UNSUPPORTED_VERSION',
  'ERR_SOURCE_FAILED',
  'ERR_RESUME_REFUSED',
])

/** Sizes of one sent batch, kept until acknowledged. */
interface InFlight {
  firstSeq: number
  sizes: number[]
  /** How many of `sizes` are already acknowledged. */
  acked: number
}

interface AckWaiter {
  seq: number
  resolve(): void
  reject(err: Error): void
}

export class LogSenderImpl implements LogSender {
  readonly peer: PeerId | Multiaddr
  readonly logId: string
  readonly epoch: number
  ackedSeq = -1
  sentSeq = -1
  bufferedBytes = 0
  bufferedEntries = 0
  connected = false
  readonly stopped: Promise<LogStreamError | undefined>

  private readonly init: LogSenderInit
  private readonly settings: SenderSettings
  private readonly components: SenderComponents
  private readonly log: Logger
  private readonly runController = new AbortController()
  private commitSeq: number
  private headSeq = 0
  /** Next seq to pull from the source / send on the wire. */
  private nextSeq = 0
  private lastPulledEpoch = 0
  private lastSentEpoch = 0
  /** Entries pulled into the batch being built, not yet counted in nextSeq. */
  private pulledAhead = 0
  private windowBytes: number
  private windowEntries: number
  private inFlight: InFlight[] = []
  private inFlightHead = 0
  private waiters: AckWaiter[] = []
  private changed: PromiseWithResolvers<void> | undefined
  private notified = false
  private channel: FrameChannel | undefined
  private lastSent = 0
  private commitPending = false
  private fatal: LogStreamError | undefined

  constructor(
    peer: PeerId | Multiaddr,
    init: LogSenderInit,
    settings: SenderSettings,
    components: SenderComponents,
    onStopped: () => void,
  ) {
    if (!Number.isSafeInteger(init.epoch) || init.epoch < 0)
      throw new RangeError('epoch must be an integer >= 0')
    this.peer = peer
    this.init = init
    this.settings = settings
    this.components = components
    this.logId = init.logId
    this.epoch = init.epoch
    this.commitSeq = init.commitSeq ?? -1
    this.windowBytes = settings.windowBytes
    this.windowEntries = settings.windowEntries
    this.log = components.logger.forComponent(`understudy:mesh:log-sender:${init.logId}`)
    this.stopped = this.run().finally(onStopped)
  }

  notify(headSeq?: number): void {
    if (headSeq !== undefined && headSeq + 1 > this.headSeq) this.headSeq = headSeq + 1
    this.notified = true
    this.signalChange()
  }

  setCommit(seq: number): void {
    if (seq <= this.commitSeq) return
    this.commitSeq = seq
    // Shadows replay only committed entries: tell them soon, coalescing a burst of commits.
    if (this.commitPending) return
    this.commitPending = true
    setImmediate(() => {
      this.commitPending = false
      this.sendHeartbeat()
    })
  }

  waitForAck(seq: number, options: AbortOptions = {}): Promise<void> {
    if (this.ackedSeq >= seq) return Promise.resolve()
    if (this.runController.signal.aborted || this.fatal !== undefined) {
      return Promise.reject(this.fatal ?? new StreamClosedError('the sender is stopped'))
    }
    const waiter = Promise.withResolvers<void>()
    const entry: AckWaiter = { seq, resolve: waiter.resolve, reject: waiter.reject }
    this.waiters.push(entry)
    const signal = options.signal
    if (signal == null) return waiter.promise
    const forget = (): void => {
      this.waiters = this.waiters.filter((w) => w !== entry)
    }
    signal.addEventListener('abort', forget, { once: true })
    return raceAbort(waiter.promise, signal).finally(() => signal.removeEventListener('abort', forget))
  }

  async stop(): Promise<void> {
    this.runController.abort(new StreamClosedError('the sender stopped'))
    await this.stopped
  }

  private async run(): Promise<LogStreamError | undefined> {
    const signal = this.runController.signal
    let attempt = 0
    while (!signal.aborted) {
      let err: LogStreamError
      try {
        await this.session(signal, () => {
          attempt = 0
        })
        err = new StreamClosedError('the stream ended')
      } catch (caught) {
        err = asLogStreamError(caught)
      }
      this.connected = false
      if (signal.aborted) break
      if (FATAL.has(err.code)) {
        this.log.error('giving up on %s: %s %s', String(this.peer), err.code, err.message)
        this.fatal = err
        this.rejectWaiters(err)
        return err
      }
      this.log('stream to %s lost (%s), reconnecting', String(this.peer), err.code)
      this.init.onDisconnect?.(err)
      const base = Math.min(this.settings.reconnectMaxDelay, this.settings.reconnectMinDelay * 2 ** attempt)
      attempt++
      try {
        await sleep(base / 2 + Math.random() * (base / 2), signal)
      } catch {
        break
      }
    }
    this.rejectWaiters(new StreamClosedError('the sender stopped'))
    return undefined
  }

  /** One stream, from open to end. Always throws (or returns when stopped). */
  private async session(runSignal: AbortSignal, onStreaming: () => void): Promise<void> {
    const controller = new AbortController()
    const signal = controller.signal
    const stopSession = (): void => controller.abort(runSignal.reason)
    runSignal.addEventListener('abort', stopSession, { once: true })
    const handshakeSignal = AbortSignal.any([signal, AbortSignal.timeout(this.settings.handshakeTimeout)])
    const welcome = Promise.withResolvers<WelcomeFrame>()
    welcome.promise.catch(() => {}) // observed below through raceAbort; avoid an unhandled rejection
    let channel: FrameChannel | undefined
    let timer: ReturnType<typeof setInterval> | undefined
    try {
      const stream = await this.openStream(handshakeSignal)
      let streaming = false
      channel = new FrameChannel(stream, {
        maxFrameBytes: this.settings.maxFrameBytes,
        limits: {
          maxEntryBytes: this.settings.maxEntryBytes,
          maxBatchEntries: this.settings.maxBatchEntries,
        },
        log: this.log,
        onFrame: (frame) => {
          if (streaming) {
            this.onFrame(frame)
          } else if (frame.type === 'welcome') {
            welcome.resolve(frame)
          } else {
            throw new MalformedFrameError(`expected WELCOME, got ${frame.type.toUpperCase()}`)
          }
        },
        onEnd: (err) => {
          welcome.reject(err)
          controller.abort(err)
          this.signalChange()
        },
      })
      this.channel = channel
      await channel.send({ type: 'hello', logId: this.logId, epoch: this.epoch }, handshakeSignal)
      const state = await raceAbort(welcome.promise, handshakeSignal)
      await this.resume(state, handshakeSignal)
      streaming = true
      this.connected = true
      onStreaming()
      this.log('streaming to %s from seq %d', String(this.peer), state.nextSeq)
      this.init.onConnect?.(state)
      const activeChannel = channel
      timer = setInterval(() => this.tick(activeChannel), Math.max(5, this.settings.heartbeatInterval / 2))
      timer.unref()
      await this.pump(signal)
    } catch (err) {
      // The channel's own end reason explains an abort better than the abort itself.
      if (channel?.error !== undefined) throw channel.error
      if (err instanceof Error && err.name === 'TimeoutError') {
        throw new PeerTimeoutError(
          `no WELCOME from ${String(this.peer)} within ${this.settings.handshakeTimeout} ms`,
        )
      }
      throw err
    } finally {
      runSignal.removeEventListener('abort', stopSession)
      if (timer !== undefined) clearInterval(timer)
      channel?.close(new StreamClosedError('the sender stopped'))
      this.channel = undefined
    }
  }

  private async openStream(signal: AbortSignal) {
    try {
      return await this.components.connectionManager.openStream(this.peer, this.settings.protocol, { signal })
    } catch (err) {
      if (err instanceof Error && err.name === 'TimeoutError') throw err
      const message = err instanceof Error ? err.message : String(err)
      throw new StreamClosedError(`cannot open a log stream to ${String(this.peer)}: ${message}`, {
        cause: err,
      })
    }
  }

  private async resume(state: WelcomeFrame, signal: AbortSignal): Promise<void> {
    if (state.highestEpoch > this.epoch) {
      throw new StaleEpochError(
        `the receiver has seen epoch ${state.highestEpoch}, newer than ours (${this.epoch})`,
      )
    }
    if (this.init.checkResume != null) {
      try {
        await this.init.checkResume(state, { signal })
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err)
        throw new ResumeRefusedError(`resuming at seq ${state.nextSeq} refused: ${message}`, { cause: err })
      }
    }
    this.windowBytes = Math.min(this.settings.windowBytes, state.windowBytes)
    this.windowEntries = Math.min(this.settings.windowEntries, state.windowEntries)
    this.inFlight = []
    this.inFlightHead = 0
    this.bufferedBytes = 0
    this.bufferedEntries = 0
    this.nextSeq = state.nextSeq
    this.sentSeq = state.nextSeq - 1
    this.lastSentEpoch = state.lastEpoch
    // The receiver's word is what counts, even if it went backwards (it lost data): it needs those entries.
    this.setAcked(state.nextSeq - 1)
  }

  /** Reads the source and sends batches until the stream ends. */
  private async pump(signal: AbortSignal): Promise<void> {
    for (;;) {
      this.notified = false
      this.pulledAhead = 0
      this.lastPulledEpoch = this.lastSentEpoch
      let source: AsyncIterable<SourceItem>
      try {
        source = this.init.readFrom(this.nextSeq, { signal })
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err)
        throw new SourceFailedError(`readFrom(${this.nextSeq}) failed: ${message}`, { cause: err })
      }
      const puller = new EntryPuller(source, this.log)
      try {
        await this.sendFrom(puller, signal)
      } finally {
        puller.close()
      }
      while (!this.notified) await raceAbort(this.waitChange(), signal)
    }
  }

  /** Sends everything the source yields; returns when it ends (caught up). */
  private async sendFrom(puller: EntryPuller, signal: AbortSignal): Promise<void> {
    let held: StreamEntry | undefined
    for (;;) {
      let entry = held
      held = undefined
      if (entry === undefined) {
        const next = puller.take() ?? (await raceAbort(puller.next(), signal))
        if (next === undefined) return
        entry = this.check(next)
      }
      while (!this.fits(entry.bytes.byteLength, 0, 0)) await raceAbort(this.waitChange(), signal)

      const batch = [entry]
      let bytes = entry.bytes.byteLength
      let ended = false
      let deadline: Promise<typeof NOT_READY> | undefined
      while (batch.length < this.settings.maxBatchEntries) {
        // Entries already in hand are free; otherwise wait only for what the source has ready now.
        let next: StreamEntry | null | typeof NOT_READY | undefined = puller.take()
        if (next === undefined) {
          deadline ??= afterReadyWork()
          next = await puller.nextIfReady(deadline)
        }
        if (next === NOT_READY) break
        if (next === null) {
          ended = true
          break
        }
        const checked = this.check(next)
        const size = checked.bytes.byteLength
        if (bytes + size > this.settings.maxBatchBytes || !this.fits(size, bytes, batch.length)) {
          held = checked
          break
        }
        batch.push(checked)
        bytes += size
      }
      await this.sendBatch(batch, bytes, signal)
      if (ended) return
    }
  }

  /** The source must yield the next seq, with epochs that never go backwards nor beyond ours. */
  private check(entry: StreamEntry): StreamEntry {
    const seq = this.nextSeq + this.pulledAhead
    if (entry == null || entry.seq !== seq) {
      throw new SourceFailedError(`source yielded seq ${entry?.seq} where seq ${seq} was due`)
    }
    if (
      !Number.isSafeInteger(entry.epoch) ||
      entry.epoch < this.lastPulledEpoch ||
      entry.epoch > this.epoch
    ) {
      throw new SourceFailedError(
        `entry ${seq} has epoch ${entry.epoch}, outside ${this.lastPulledEpoch}..${this.epoch} (the sender's epoch)`,
      )
    }
    if (!(entry.bytes instanceof Uint8Array)) throw new SourceFailedError(`entry ${seq} has no bytes`)
    const limit = Math.min(this.settings.maxEntryBytes, this.windowBytes)
    if (entry.bytes.byteLength > limit) {
      throw new SourceFailedError(
        `entry ${seq} has ${entry.bytes.byteLength} bytes, more than the limit of ${limit}`,
      )
    }
    this.lastPulledEpoch = entry.epoch
    this.pulledAhead++
    if (seq + 1 > this.headSeq) this.headSeq = seq + 1
    return entry
  }

  private fits(size: number, batchBytes: number, batchEntries: number): boolean {
    return (
      this.bufferedEntries + batchEntries + 1 <= this.windowEntries &&
      this.bufferedBytes + batchBytes + size <= this.windowBytes
    )
  }

  private async sendBatch(batch: StreamEntry[], bytes: number, signal: AbortSignal): Promise<void> {
    const channel = this.channel
    if (channel === undefined) throw new StreamClosedError('no stream')
    const frame = encodeFrame({ type: 'batch', epoch: this.epoch, commitSeq: this.commitSeq, entries: batch })
    const first = batch[0]
    if (first === undefined) return
    this.inFlight.push({ firstSeq: first.seq, sizes: batch.map((e) => e.bytes.byteLength), acked: 0 })
    this.bufferedBytes += bytes
    this.bufferedEntries += batch.length
    this.nextSeq += batch.length
    this.pulledAhead -= batch.length
    this.sentSeq = this.nextSeq - 1
    this.lastSentEpoch = batch[batch.length - 1]?.epoch ?? this.lastSentEpoch
    this.lastSent = Date.now()
    await channel.sendBytes(frame, signal)
  }

  private onFrame(frame: Frame): void {
    if (frame.type !== 'ack')
      throw new MalformedFrameError(`unexpected ${frame.type.toUpperCase()} from a receiver`)
    const acked = frame.nextSeq - 1
    if (acked < this.ackedSeq || acked > this.sentSeq) {
      throw new OutOfOrderError(`ACK of seq ${acked} outside ${this.ackedSeq}..${this.sentSeq}`)
    }
    if (acked === this.ackedSeq) return
    this.release(frame.nextSeq)
    this.setAcked(acked)
    this.signalChange()
  }

  /** Forgets the sizes of every entry below `nextSeq`, opening the window. */
  private release(nextSeq: number): void {
    while (this.inFlightHead < this.inFlight.length) {
      const batch = this.inFlight[this.inFlightHead]
      if (batch === undefined) break
      const upto = Math.min(batch.sizes.length, nextSeq - batch.firstSeq)
      for (; batch.acked < upto; batch.acked++) {
        this.bufferedBytes -= batch.sizes[batch.acked] ?? 0
        this.bufferedEntries--
      }
      if (batch.acked < batch.sizes.length) break
      this.inFlightHead++
    }
    if (this.inFlightHead > 1024 && this.inFlightHead * 2 > this.inFlight.length) {
      this.inFlight = this.inFlight.slice(this.inFlightHead)
      this.inFlightHead = 0
    }
  }

  private setAcked(acked: number): void {
    if (acked === this.ackedSeq) return
    this.ackedSeq = acked
    if (this.waiters.length > 0) {
      const still: AckWaiter[] = []
      for (const waiter of this.waiters) {
        if (waiter.seq <= acked) waiter.resolve()
        else still.push(waiter)
      }
      this.waiters = still
    }
    this.init.onAck?.(acked)
  }

  private rejectWaiters(err: Error): void {
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) waiter.reject(err)
  }

  /** Heartbeat when quiet, probe a silent receiver, give up on a dead one. */
  private tick(channel: FrameChannel): void {
    if (channel.ended) return
    const now = Date.now()
    const silent = now - channel.lastHeard
    if (silent > this.settings.peerTimeout) {
      channel.fail(new PeerTimeoutError(`no frame from ${String(this.peer)} for ${silent} ms`))
      return
    }
    if (now - this.lastSent >= this.settings.heartbeatInterval || silent >= this.settings.heartbeatInterval) {
      this.sendHeartbeat()
    }
  }

  private sendHeartbeat(): void {
    const channel = this.channel
    if (channel === undefined || channel.ended || !this.connected) return
    // A stream that needs draining is busy with batches: the heartbeat adds nothing.
    if (channel.stream.writableNeedsDrain) return
    this.lastSent = Date.now()
    const headSeq = Math.max(this.headSeq, this.nextSeq)
    channel
      .send({ type: 'heartbeat', epoch: this.epoch, commitSeq: this.commitSeq, headSeq })
      .catch((err: unknown) => channel.fail(asLogStreamError(err)))
  }

  private waitChange(): Promise<void> {
    this.changed ??= Promise.withResolvers<void>()
    return this.changed.promise
  }

  private signalChange(): void {
    const changed = this.changed
    this.changed = undefined
    changed?.resolve()
  }
}
