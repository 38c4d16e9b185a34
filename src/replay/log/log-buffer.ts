/**
 * An in-memory log: a recorder appends to it, and replayers follow it in the
 * same process, each through its own cursor. A cursor answers synchronously when
 * the entry is already there, and with a Promise (cancellable by AbortSignal)
 * when it has to wait for the recorder.
 */
import { UnderstudyError } from '../../errors/index.ts'
import type { LogEntry, MaybePromise } from '../types.ts'
import type { EntrySink } from './recorder.ts'
import type { EntrySource } from './replayer.ts'

export interface WaitOptions {
  /** Aborts a pending wait; the Promise rejects with the signal's reason. */
  signal?: AbortSignal
}

export interface CursorOptions extends WaitOptions {
  /** Index (0 = first entry appended) of the first entry this cursor returns. Default 0. */
  from?: number
}

const WAIT: unique symbol = Symbol('wait')

export class LogBuffer implements EntrySink, EntrySource {
  readonly #entries: LogEntry[] = []
  readonly #waiters = new Set<() => void>()
  #ended = false
  readonly #cursor: LogCursor

  constructor() {
    this.#cursor = new LogCursor(this, 0, undefined)
  }

  /** A buffer holding `entries`, already ended: an EntrySource over a log read from a file. */
  static of(entries: Iterable<LogEntry>): LogBuffer {
    const buf = new LogBuffer()
    for (const e of entries) buf.append(e)
    buf.end()
    return buf
  }

  get length(): number {
    return this.#entries.length
  }

  get ended(): boolean {
    return this.#ended
  }

  /** The entries so far. Do not mutate. */
  get entries(): readonly LogEntry[] {
    return this.#entries
  }

  at(index: number): LogEntry | undefined {
    return this.#entries[index]
  }

  append(entry: LogEntry): void {
    if (this.#ended)
      throw new UnderstudyError('ERR_LOG_CLOSED', `cannot append entry ${entry.seq}: the log has ended`)
    this.#entries.push(entry)
    this.#wake()
  }

  /** No more entries will come: waiting cursors get undefined once they have read everything. */
  end(): void {
    this.#ended = true
    this.#wake()
  }

  /** Reads through the buffer's own cursor (one consumer); see cursor() for more. */
  next(options?: WaitOptions): MaybePromise<LogEntry | undefined> {
    return this.#cursor.next(options)
  }

  /** The entry the buffer's own cursor returns next, if it is there (not taken). */
  peek(): LogEntry | undefined {
    return this.#cursor.peek()
  }

  /** A new independent reader. */
  cursor(options: CursorOptions = {}): LogCursor {
    return new LogCursor(this, options.from ?? 0, options.signal)
  }

  /** @internal Registers a callback run on the next append or end. */
  waitForChange(wake: () => void): () => void {
    this.#waiters.add(wake)
    return () => this.#waiters.delete(wake)
  }

  #wake(): void {
    const waiters = [...this.#waiters]
    this.#waiters.clear()
    for (const wake of waiters) wake()
  }
}

/** One reader's position in a LogBuffer. */
export class LogCursor implements EntrySource {
  readonly #buffer: LogBuffer
  readonly #signal: AbortSignal | undefined
  #index: number
  #waiting = false

  constructor(buffer: LogBuffer, from: number, signal: AbortSignal | undefined) {
    this.#buffer = buffer
    this.#index = from
    this.#signal = signal
  }

  /** Index of the next entry this cursor returns. */
  get index(): number {
    return this.#index
  }

  /**
   * The next entry: at once if it is there, undefined if the log ended, else a
   * Promise. Waiting is cancelled by the cursor's signal or by `options.signal`.
   */
  next(options: WaitOptions = {}): MaybePromise<LogEntry | undefined> {
    if (this.#waiting) {
      throw new UnderstudyError('ERR_TAPE_BUSY', 'this cursor is already waiting for an entry')
    }
    const now = this.#take()
    if (now !== WAIT) return now
    const signals = [this.#signal, options.signal].filter((s) => s !== undefined)
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0]
    if (signal?.aborted) return Promise.reject(signal.reason)
    this.#waiting = true
    return new Promise<LogEntry | undefined>((resolve, reject) => {
      const onAbort = () => {
        unregister()
        this.#waiting = false
        reject(signal!.reason)
      }
      // an append may not reach this cursor's index yet (a cursor started ahead): wait again
      const onChange = () => {
        const got = this.#take()
        if (got === WAIT) {
          unregister = this.#buffer.waitForChange(onChange)
          return
        }
        signal?.removeEventListener('abort', onAbort)
        this.#waiting = false
        resolve(got)
      }
      let unregister = this.#buffer.waitForChange(onChange)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** The entry next() returns next, if it is already there; it stays there. */
  peek(): LogEntry | undefined {
    return this.#buffer.at(this.#index)
  }

  #take(): LogEntry | undefined | typeof WAIT {
    const entry = this.#buffer.at(this.#index)
    if (entry !== undefined) {
      this.#index++
      return entry
    }
    return this.#buffer.ended ? undefined : WAIT
  }
}
