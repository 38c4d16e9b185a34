/**
 * The receiving end of a log: one per log id, fed by at most one sender stream at a
 * time. Batches are checked (epoch fence, seq order, window) as they arrive, queued,
 * handed to the owner's `store` in order, and acknowledged only once `store` resolves.
 * A newer stream for the same log supersedes the current one after its in-flight
 * `store` has finished, so the resume point it announces is exact.
 */
import type { Connection, Logger, PeerId } from '@libp2p/interface'
import {
  LogStreamError,
  MalformedFrameError,
  NotAuthorizedError,
  OutOfOrderError,
  PeerTimeoutError,
  StaleEpochError,
  StoreFailedError,
  StreamClosedError,
  SupersededError,
  WindowExceededError,
} from '../errors.ts'
import type { BatchFrame, Frame, HelloFrame, StreamEntry } from './codec.ts'
import type { FrameChannel } from './frame-channel.ts'

export type Awaitable<T> = T | Promise<T>

export interface LogReceiverInit {
  /**
   * Durably stores entries. Called in seq order with contiguous entries starting at the
   * receiver's next seq, one call at a time; the ack is sent only after it resolves.
   * A rejection ends the stream (the sender retries later from the last stored seq).
   */
  store(entries: StreamEntry[]): Promise<void>
  /** Every seq below this one is already stored (where a restarted receiver resumes). Default 0. */
  nextSeq?: number
  /** Epoch of the entry at nextSeq - 1; 0 for an empty log. */
  lastEpoch?: number
  /** Highest epoch seen so far, as persisted by the owner. Default lastEpoch. */
  highestEpoch?: number
  /** Persist a newly seen higher epoch; awaited before the sender is welcomed (fencing survives restarts). */
  onEpoch?(epoch: number): Awaitable<void>
  /** Policy hook: may this peer send this log at this epoch? Default: yes. */
  authorize?(peer: PeerId, epoch: number): Awaitable<boolean>
  /** The sender's commit point grew (it may be beyond what is stored here). */
  onCommit?(commitSeq: number): void
  /** A sender stream ended; the receiver stays registered and accepts the next one. */
  onSessionEnd?(err: LogStreamError, peer: PeerId): void
  /** Unacknowledged payload granted to a sender. */
  windowBytes?: number
  windowEntries?: number
  /** End a stream whose sender said nothing (not even a heartbeat) for this long. */
  peerTimeout?: number
  /** Queued batches are merged into one `store` call up to this many entries. */
  maxStoreEntries?: number
}

export interface LogReceiver {
  readonly logId: string
  /** Every seq below this one is stored. */
  readonly nextSeq: number
  readonly lastEpoch: number
  /** The fence: streams from an older epoch are refused. */
  readonly highestEpoch: number
  /** Highest commit point any sender announced; -1 for none. */
  readonly commitSeq: number
  /** Next seq the current sender would send, from its heartbeats; -1 when unknown. */
  readonly senderHeadSeq: number
  /** The peer streaming to us now. */
  readonly sender: PeerId | undefined
  /**
   * Raises the fence (e.g. after a vote in a newer epoch); a current stream from an older
   * epoch is ended with ERR_STALE_EPOCH.
   */
  observeEpoch(epoch: number): void
  /** Ends any current stream, waits for an in-flight `store`, and unregisters the log. */
  close(): Promise<void>
}

export interface ReceiverSettings {
  windowBytes: number
  windowEntries: number
  peerTimeout: number
  maxStoreEntries: number
}

/** The receiver's view of one inbound stream. */
export interface ReceiverSession {
  channel: FrameChannel
  peer: PeerId
  epoch: number
  log: Logger
  state: 'handshaking' | 'streaming' | 'ended'
  /** Next seq expected on the wire (queued entries count, stored or not). */
  expectedSeq: number
  /** Epoch of the last entry received, so epochs never go backwards across batches. */
  expectedMinEpoch: number
  queue: BatchFrame[]
  unackedBytes: number
  unackedEntries: number
  timer: ReturnType<typeof setInterval> | undefined
}

export class LogReceiverImpl implements LogReceiver {
  readonly logId: string
  nextSeq: number
  lastEpoch: number
  highestEpoch: number
  commitSeq = -1
  senderHeadSeq = -1
  private readonly init: LogReceiverInit
  private readonly settings: ReceiverSettings
  private readonly unregister: () => void
  private current: ReceiverSession | undefined
  /** Serializes attaching streams so two reconnects cannot interleave. */
  private attaching: Promise<void> = Promise.resolve()
  private storing = false
  /** Settles when the store loop has stopped (never rejects). */
  private storeTask: Promise<void> = Promise.resolve()
  private closed = false

  constructor(logId: string, init: LogReceiverInit, settings: ReceiverSettings, unregister: () => void) {
    this.logId = logId
    this.init = init
    this.settings = settings
    this.unregister = unregister
    this.nextSeq = init.nextSeq ?? 0
    this.lastEpoch = init.lastEpoch ?? 0
    this.highestEpoch = Math.max(init.highestEpoch ?? 0, this.lastEpoch)
    if (!Number.isSafeInteger(this.nextSeq) || this.nextSeq < 0) throw new RangeError('nextSeq must be >= 0')
  }

  get sender(): PeerId | undefined {
    return this.current?.peer
  }

  observeEpoch(epoch: number): void {
    if (epoch <= this.highestEpoch) return
    this.highestEpoch = epoch
    const session = this.current
    if (session !== undefined && session.epoch < epoch) {
      this.endSession(
        session,
        new StaleEpochError(`epoch ${session.epoch} is older than epoch ${epoch} seen by the receiver`),
      )
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.unregister()
    const session = this.current
    if (session !== undefined) this.endSession(session, new StreamClosedError('the receiver closed this log'))
    await this.attaching
    await this.storeTask
  }

  /** Called by the service once a HELLO for this log arrived; `channel` must route frames to `onFrame`. */
  attach(channel: FrameChannel, connection: Connection, hello: HelloFrame, log: Logger): ReceiverSession {
    const session: ReceiverSession = {
      channel,
      peer: connection.remotePeer,
      epoch: hello.epoch,
      log,
      state: 'handshaking',
      expectedSeq: 0,
      expectedMinEpoch: 0,
      queue: [],
      unackedBytes: 0,
      unackedEntries: 0,
      timer: undefined,
    }
    this.attaching = this.attaching.then(() => this.handshake(session))
    return session
  }

  private async handshake(session: ReceiverSession): Promise<void> {
    try {
      if (this.closed) throw new StreamClosedError('the receiver closed this log')
      // It may have died while an earlier stream was being attached.
      if (hasEnded(session)) return
      await this.authorize(session)
      if (session.epoch < this.highestEpoch) {
        throw new StaleEpochError(
          `epoch ${session.epoch} is older than epoch ${this.highestEpoch} seen by the receiver`,
        )
      }
      if (session.epoch > this.highestEpoch) {
        try {
          await this.init.onEpoch?.(session.epoch)
        } catch (err) {
          throw new StoreFailedError(`persisting epoch ${session.epoch} failed: ${errorMessage(err)}`, {
            cause: err,
          })
        }
        this.observeEpoch(session.epoch)
      }
      const previous = this.current
      if (previous !== undefined && previous !== session) {
        this.endSession(previous, new SupersededError('a newer stream for this log replaced this one'))
      }
      // The previous stream's store may still run: the resume point must include it.
      await this.storeTask
      if (hasEnded(session)) return
      if (session.epoch < this.highestEpoch) {
        throw new StaleEpochError(
          `epoch ${session.epoch} is older than epoch ${this.highestEpoch} seen by the receiver`,
        )
      }
      this.current = session
      session.state = 'streaming'
      session.expectedSeq = this.nextSeq
      session.expectedMinEpoch = this.lastEpoch
      session.timer = setInterval(
        () => this.checkLiveness(session),
        Math.max(10, this.settings.peerTimeout / 4),
      )
      session.timer.unref()
      await session.channel.send({
        type: 'welcome',
        nextSeq: this.nextSeq,
        lastEpoch: this.lastEpoch,
        highestEpoch: this.highestEpoch,
        windowBytes: this.settings.windowBytes,
        windowEntries: this.settings.windowEntries,
      })
      session.log('welcomed %p at epoch %d, resuming at seq %d', session.peer, session.epoch, this.nextSeq)
    } catch (err) {
      this.endSession(session, toLogStreamError(err))
    }
  }

  private async authorize(session: ReceiverSession): Promise<void> {
    if (this.init.authorize == null) return
    let allowed: boolean
    try {
      allowed = await this.init.authorize(session.peer, session.epoch)
    } catch (err) {
      throw new NotAuthorizedError(`authorization of ${session.peer} failed: ${errorMessage(err)}`, {
        cause: err,
      })
    }
    if (!allowed) {
      throw new NotAuthorizedError(
        `peer ${session.peer} may not send log ${this.logId} at epoch ${session.epoch}`,
      )
    }
  }

  /** Frame handler of an attached session (runs synchronously in the stream's message event). */
  onFrame(session: ReceiverSession, frame: Frame): void {
    if (session.state !== 'streaming') {
      throw new MalformedFrameError(`${frame.type.toUpperCase()} frame before WELCOME`)
    }
    switch (frame.type) {
      case 'batch':
        this.onBatch(session, frame)
        return
      case 'heartbeat':
        this.checkEpoch(session, frame.epoch)
        this.updateCommit(frame.commitSeq)
        this.senderHeadSeq = frame.headSeq
        // Answered at once, not after the store queue: this is the sender's liveness probe.
        this.sendAck(session)
        return
      default:
        throw new MalformedFrameError(`unexpected ${frame.type.toUpperCase()} frame from a sender`)
    }
  }

  /** Called when the session's channel ended, whatever the cause. */
  onChannelEnd(session: ReceiverSession, err: LogStreamError): void {
    if (session.state === 'ended') return
    session.state = 'ended'
    if (session.timer !== undefined) clearInterval(session.timer)
    session.queue = []
    if (this.current === session) this.current = undefined
    session.log('stream from %p ended - %s: %s', session.peer, err.code, err.message)
    this.init.onSessionEnd?.(err, session.peer)
  }

  private onBatch(session: ReceiverSession, frame: BatchFrame): void {
    this.checkEpoch(session, frame.epoch)
    const first = frame.entries[0]
    const last = frame.entries[frame.entries.length - 1]
    if (first === undefined || last === undefined) throw new MalformedFrameError('empty BATCH')
    if (first.seq !== session.expectedSeq) {
      throw new OutOfOrderError(`BATCH starts at seq ${first.seq}, expected seq ${session.expectedSeq}`)
    }
    if (first.epoch < session.expectedMinEpoch) {
      throw new OutOfOrderError(
        `entry ${first.seq} has epoch ${first.epoch}, before epoch ${session.expectedMinEpoch}`,
      )
    }
    let bytes = 0
    for (const entry of frame.entries) bytes += entry.bytes.byteLength
    if (
      session.unackedBytes + bytes > this.settings.windowBytes ||
      session.unackedEntries + frame.entries.length > this.settings.windowEntries
    ) {
      throw new WindowExceededError(
        `sender exceeded the window of ${this.settings.windowBytes} bytes / ${this.settings.windowEntries} entries`,
      )
    }
    session.unackedBytes += bytes
    session.unackedEntries += frame.entries.length
    session.expectedSeq = last.seq + 1
    session.expectedMinEpoch = last.epoch
    session.queue.push(frame)
    this.updateCommit(frame.commitSeq)
    if (!this.storing) {
      this.storing = true
      this.storeTask = this.storeLoop(session).finally(() => {
        this.storing = false
      })
    }
  }

  private async storeLoop(session: ReceiverSession): Promise<void> {
    while (session.state === 'streaming' && session.queue.length > 0) {
      const entries: StreamEntry[] = []
      let bytes = 0
      while (session.queue.length > 0) {
        const next = session.queue[0]
        if (next === undefined) break
        if (entries.length > 0 && entries.length + next.entries.length > this.settings.maxStoreEntries) break
        session.queue.shift()
        for (const entry of next.entries) {
          entries.push(entry)
          bytes += entry.bytes.byteLength
        }
      }
      const last = entries[entries.length - 1]
      if (last === undefined) return
      try {
        await this.init.store(entries)
      } catch (err) {
        const failure = `storing seqs ${entries[0]?.seq}..${last.seq} failed: ${errorMessage(err)}`
        this.endSession(session, new StoreFailedError(failure, { cause: err }))
        return
      }
      // Durable now, whatever happened to the stream meanwhile.
      this.nextSeq = last.seq + 1
      this.lastEpoch = last.epoch
      session.unackedBytes -= bytes
      session.unackedEntries -= entries.length
      if (session.state === 'streaming') this.sendAck(session)
    }
  }

  private sendAck(session: ReceiverSession): void {
    session.channel.send({ type: 'ack', nextSeq: this.nextSeq }).catch((err: unknown) => {
      this.endSession(session, toLogStreamError(err))
    })
  }

  private checkEpoch(session: ReceiverSession, epoch: number): void {
    if (epoch !== session.epoch) {
      throw new MalformedFrameError(`frame epoch ${epoch} differs from the stream's epoch ${session.epoch}`)
    }
    if (epoch < this.highestEpoch) {
      throw new StaleEpochError(
        `epoch ${epoch} is older than epoch ${this.highestEpoch} seen by the receiver`,
      )
    }
  }

  private updateCommit(commitSeq: number): void {
    if (commitSeq <= this.commitSeq) return
    this.commitSeq = commitSeq
    this.init.onCommit?.(commitSeq)
  }

  private checkLiveness(session: ReceiverSession): void {
    const silent = Date.now() - session.channel.lastHeard
    if (silent > this.settings.peerTimeout) {
      this.endSession(session, new PeerTimeoutError(`no frame from ${session.peer} for ${silent} ms`))
    }
  }

  private endSession(session: ReceiverSession, err: LogStreamError): void {
    if (session.channel.ended) {
      this.onChannelEnd(session, session.channel.error ?? err)
    } else {
      // fail() calls back into onChannelEnd through the channel's onEnd.
      session.channel.fail(err)
    }
  }
}

/** A function, not an inline test: the state changes across awaits, which narrowing does not see. */
function hasEnded(session: ReceiverSession): boolean {
  return session.state === 'ended'
}

function toLogStreamError(err: unknown): LogStreamError {
  if (err instanceof LogStreamError) return err
  return new StreamClosedError(errorMessage(err), { cause: err })
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
