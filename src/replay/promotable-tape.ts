/**
 * A replica's tape across a promotion. A shadow replays the committed log as it
 * is fed, waiting (never ending) when it has consumed everything it was given;
 * once told to go live, and once every fed entry is consumed and verified
 * (trailing marks included), it answers live through a Recorder that continues
 * the same hash chain: same process, same guest instance, no restart. A call
 * that was waiting for the next entry at that moment runs live.
 *
 * The replay side is a Replayer over an in-memory queue that it only reads when
 * an entry is there, so verification and divergence reports are exactly the
 * Replayer's, and the Replayer itself never waits.
 */
import { AbandonedCallError, FeedOrderError, PromotionError, UnderstudyError } from '../errors/index.ts'
import type { ChainPosition, EntrySink, EntrySource } from './log/index.ts'
import { Recorder, Replayer } from './log/index.ts'
import type { CallArg, LogEntry, MaybePromise, Outcome, Tape } from './types.ts'

export interface PromotableTapeOptions {
  /** The replay starts mid-log, here (after restoring a checkpoint). Default: genesis. */
  resume?: ChainPosition
  /**
   * Called with each Checkpoint and EpochStart entry consumed; a throw stops the replay.
   * `atOperationStart`: consumed as the guest starts its next operation, where the recorder wrote it
   * (the guest's state is the recorder's then). False for trailing marks passed eagerly after an
   * entry or at goLive, while the guest has not yet run to its next operation.
   */
  onMark?: (entry: LogEntry, atOperationStart: boolean) => void
  /** Called once, when the tape starts recording (`recorder` is then set). */
  onModeChange?: (mode: 'record') => void
  /** Called each time a call has to wait: the replay has consumed every entry fed so far. */
  onWait?: (position: number) => void
}

export interface GoLiveOptions {
  /** Where live entries go (the new primary's log). */
  sink: EntrySink
  /** Epoch stamped on live entries: at least the epoch of the last entry fed. */
  epoch: number
}

export class PromotableTape implements Tape {
  readonly #queue = new FeedQueue()
  readonly #replayer: Replayer
  readonly #onModeChange: ((mode: 'record') => void) | undefined
  readonly #onWait: ((position: number) => void) | undefined
  #recorder: Recorder | undefined
  #live: GoLiveOptions | undefined
  /** seq the next fed entry must have. */
  #nextFeed: number
  /** Highest epoch fed (or resumed from). */
  #lastEpoch: number | undefined
  /** Set on the first replay error: a replica that diverged neither replays on nor goes live. */
  #failed: { error: unknown } | undefined
  /** The call waiting for an entry or for goLive; abandon() forgets it. */
  #pending: symbol | undefined
  #wake: (() => void) | undefined
  /** Trailing marks are being passed (after an entry, or at goLive), not at an operation's start. */
  #passingTrailing = false

  constructor(options: PromotableTapeOptions = {}) {
    this.#replayer = new Replayer({
      source: this.#queue,
      ...(options.resume === undefined ? {} : { resume: options.resume }),
      ...(options.onMark === undefined
        ? {}
        : { onMark: (entry: LogEntry) => options.onMark?.(entry, !this.#passingTrailing) }),
    })
    this.#onModeChange = options.onModeChange
    this.#onWait = options.onWait
    this.#nextFeed = options.resume?.position ?? 0
    this.#lastEpoch = options.resume?.epoch
  }

  get mode(): 'record' | 'replay' {
    return this.#recorder === undefined ? 'replay' : 'record'
  }

  /** Entries consumed (replay) and then appended (record): continuous across the switch. */
  get position(): number {
    return (this.#recorder ?? this.#replayer).position
  }

  /** Hash of the log so far (the next entry's prevHash). */
  get lastHash(): Uint8Array {
    return (this.#recorder ?? this.#replayer).lastHash
  }

  /** Epoch of the last entry consumed, or the live epoch once recording. */
  get epoch(): number | undefined {
    return (this.#recorder ?? this.#replayer).epoch
  }

  /** The live Recorder (to mark() checkpoints), undefined until the switch. */
  get recorder(): Recorder | undefined {
    return this.#recorder
  }

  /** Entries fed but not consumed yet. */
  get backlog(): number {
    return this.#queue.size
  }

  /** Whether a call is waiting for the next entry (or for goLive). */
  get waiting(): boolean {
    return this.#pending !== undefined
  }

  /** Where the log stands: what a checkpoint records. */
  snapshot(): ChainPosition {
    return (this.#recorder ?? this.#replayer).snapshot()
  }

  /**
   * The next committed entry, in seq order (FeedOrderError otherwise). A call
   * waiting for it wakes up. Refused (PromotionError) once goLive was called.
   */
  feed(entry: LogEntry): void {
    if (this.#live !== undefined) {
      throw new PromotionError(
        `entry ${entry.seq} was fed after the replica was told to go live after entry ${this.#nextFeed - 1}: ` +
          'a promoted replica takes no more entries from the old log',
      )
    }
    if (entry.seq !== this.#nextFeed) throw new FeedOrderError(entry.seq, this.#nextFeed)
    this.#queue.push(entry)
    this.#nextFeed++
    this.#lastEpoch = Math.max(this.#lastEpoch ?? entry.epoch, entry.epoch)
    this.#wakeUp()
  }

  /**
   * No more entries will be fed: once every fed entry is consumed (at once if
   * that is already so), the tape records live. Throws PromotionError for an
   * epoch below the log's, a second goLive, or after the replay failed; and the
   * replay's error if a trailing mark fails verification.
   */
  goLive(options: GoLiveOptions): void {
    if (this.#live !== undefined) throw new PromotionError('this replica was already told to go live')
    if (this.#failed !== undefined) {
      throw new PromotionError(
        'the replay failed, so this replica cannot go live: rebuild it from a checkpoint',
        {
          cause: this.#failed.error,
        },
      )
    }
    const last = this.#lastEpoch
    if (
      !Number.isSafeInteger(options.epoch) ||
      options.epoch < 0 ||
      (last !== undefined && options.epoch < last)
    ) {
      throw new PromotionError(
        `cannot go live in epoch ${options.epoch}: the log is already at epoch ${last ?? 0}; ` +
          'a new primary goes live in the epoch it was elected in',
      )
    }
    this.#live = { sink: options.sink, epoch: options.epoch }
    try {
      this.#guard(() => this.#switchIfDone())
    } finally {
      // a waiting call now runs live, or fails with the error just thrown
      this.#wakeUp()
    }
  }

  call(fn: string, args: readonly CallArg[], live: () => MaybePromise<Uint8Array>): MaybePromise<Uint8Array> {
    return this.#run(fn, (tape) => tape.call(fn, args, live))
  }

  input(name: string, live: () => Uint8Array): MaybePromise<Uint8Array> {
    return this.#run(`input(${JSON.stringify(name)})`, (tape) => tape.input(name, live))
  }

  output(stream: number, bytes: Uint8Array): MaybePromise<void> {
    return this.#run('output', (tape) => tape.output(stream, bytes))
  }

  exit(outcome: Outcome, stateDigest: Uint8Array): MaybePromise<void> {
    return this.#run('exit', (tape) => tape.exit(outcome, stateDigest))
  }

  /** The machine paused while a call was blocked: forget it, in whichever mode it waits. */
  abandon(): void {
    this.#pending = undefined
    this.#wakeUp()
    this.#recorder?.abandon()
  }

  #run<T>(what: string, op: (tape: Tape) => MaybePromise<T>): MaybePromise<T> {
    if (this.#recorder !== undefined) return op(this.#recorder)
    if (this.#failed !== undefined) throw this.#failed.error
    if (this.#pending !== undefined) {
      throw new UnderstudyError('ERR_TAPE_BUSY', 'the tape is still waiting for an entry for an earlier call')
    }
    const now = this.#attempt(op)
    return now === WAIT ? this.#wait(what, op) : now
  }

  /** Answers from the next fed entry, or live if the switch is due; WAIT if neither can be done yet. */
  #attempt<T>(op: (tape: Tape) => MaybePromise<T>): MaybePromise<T> | typeof WAIT {
    // marks at the head are passed over first, as the Replayer's own read would
    this.#guard(() => this.#replayer.passMarks())
    if (this.#queue.size === 0) {
      this.#guard(() => this.#switchIfDone())
      return this.#recorder === undefined ? WAIT : op(this.#recorder)
    }
    // a non-mark entry is there, so the Replayer answers synchronously
    const result = this.#guard(() => op(this.#replayer))
    this.#guard(() => this.#switchIfDone())
    return result
  }

  #wait<T>(what: string, op: (tape: Tape) => MaybePromise<T>): Promise<T> {
    const token = Symbol(what)
    this.#pending = token
    const next = (): Promise<T> => {
      const woken = new Promise<void>((resolve) => {
        this.#wake = resolve
      })
      try {
        this.#onWait?.(this.position)
      } catch (err) {
        this.#pending = undefined
        throw err
      }
      return woken.then(() => {
        if (this.#pending !== token) throw new AbandonedCallError(what)
        try {
          if (this.#failed !== undefined) throw this.#failed.error
          const now = this.#attempt(op)
          if (now === WAIT) return next()
          this.#pending = undefined
          return now
        } catch (err) {
          this.#pending = undefined
          throw err
        }
      })
    }
    return next()
  }

  /** Once told to go live and every fed entry is consumed, trailing marks included, starts recording. */
  #switchIfDone(): void {
    if (this.#live === undefined || this.#recorder !== undefined) return
    this.#passingTrailing = true
    try {
      this.#replayer.passMarks()
    } finally {
      this.#passingTrailing = false
    }
    if (this.#queue.size > 0) return
    const { sink, epoch } = this.#live
    this.#recorder = new Recorder({ sink, epoch, resume: this.#replayer.snapshot() })
    this.#onModeChange?.('record')
  }

  /** Runs replay-side work, remembering its first error. */
  #guard<T>(work: () => T): T {
    try {
      return work()
    } catch (err) {
      this.#failed ??= { error: err }
      throw err
    }
  }

  #wakeUp(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}

const WAIT: unique symbol = Symbol('wait')

/** Fed entries not yet consumed; read only when an entry is there. */
class FeedQueue implements EntrySource {
  #entries: LogEntry[] = []
  #head = 0

  get size(): number {
    return this.#entries.length - this.#head
  }

  push(entry: LogEntry): void {
    this.#entries.push(entry)
  }

  peek(): LogEntry | undefined {
    return this.#entries[this.#head]
  }

  next(): LogEntry {
    const entry = this.#entries[this.#head]
    // The tape only lets the Replayer read an entry it has seen there; anything else is a bug here.
    if (entry === undefined) throw new Error('the replayer read past the fed entries')
    this.#head++
    // drop consumed entries now and then, so a long-running shadow does not keep the whole log
    if (this.#head >= 1024 && this.#head * 2 >= this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head)
      this.#head = 0
    }
    return entry
  }
}
