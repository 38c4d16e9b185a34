/**
 * Pulls entries from the owner's source, so the source is read only as fast as the
 * window opens (backpressure reaches the producer), and lets the sender gather into
 * one batch exactly the entries that are ready now. A source may yield single entries
 * or arrays of them (as a level iterator's `nextv` returns): arrays cost far less per
 * entry, and the sender holds at most one of them beyond the window.
 */
import type { Logger } from '@libp2p/interface'
import { SourceFailedError } from '../errors.ts'
import type { StreamEntry } from './codec.ts'

export const NOT_READY = Symbol('not-ready')
type NotReady = typeof NOT_READY

/** What an owner's source may yield. */
export type SourceItem = StreamEntry | readonly StreamEntry[]

/** Settles after the current macrotask: every entry a source has in memory is ready by then. */
export function afterReadyWork(): Promise<NotReady> {
  return new Promise((resolve) => setImmediate(resolve, NOT_READY))
}

export class EntryPuller {
  private readonly iterator: AsyncIterator<SourceItem>
  private readonly log: Logger
  private pending: Promise<StreamEntry | undefined> | undefined
  private chunk: readonly StreamEntry[] = []
  private index = 0

  constructor(source: AsyncIterable<SourceItem>, log: Logger) {
    this.iterator = source[Symbol.asyncIterator]()
    this.log = log
  }

  /** An entry already pulled (the rest of an array), without waiting; undefined if none. */
  take(): StreamEntry | undefined {
    if (this.index < this.chunk.length) return this.chunk[this.index++]
    return undefined
  }

  /** The next entry, however long the source takes; undefined when the source ended. */
  next(): Promise<StreamEntry | undefined> {
    const taken = this.take()
    if (taken !== undefined) return Promise.resolve(taken)
    const pending = this.pending ?? this.read()
    this.pending = undefined
    return pending
  }

  /**
   * The next entry if the source has it before `deadline`: the entry, `null` when the
   * source ended, or NOT_READY (the read stays pending for the next call).
   */
  async nextIfReady(deadline: Promise<NotReady>): Promise<StreamEntry | null | NotReady> {
    const taken = this.take()
    if (taken !== undefined) return taken
    const pending = this.pending ?? this.read()
    const result = await Promise.race([pending, deadline])
    if (result === NOT_READY) {
      this.pending = pending
      return NOT_READY
    }
    this.pending = undefined
    return result ?? null
  }

  /** Releases the source. A read still pending is let finish; what it yields is dropped (re-read on resume). */
  close(): void {
    const pending = this.pending
    this.pending = undefined
    this.chunk = []
    this.index = 0
    const finish = (): void => {
      this.iterator.return?.()?.catch((err: unknown) => this.log('closing the entry source failed - %e', err))
    }
    if (pending === undefined) {
      finish()
      return
    }
    pending.then(finish, (err: unknown) => {
      this.log('entry source failed after the stream ended - %e', err)
    })
  }

  private async read(): Promise<StreamEntry | undefined> {
    try {
      for (;;) {
        const result = await this.iterator.next()
        if (result.done === true) return undefined
        if (!Array.isArray(result.value)) return result.value as StreamEntry
        this.chunk = result.value
        this.index = 0
        const first = this.take()
        if (first !== undefined) return first
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      throw new SourceFailedError(`reading entries failed: ${message}`, { cause: err })
    }
  }
}
