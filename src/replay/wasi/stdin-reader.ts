/**
 * Buffers the guest's stdin source so that poll_oneoff can wait for it to
 * become readable and a later fd_read returns the bytes that made it so.
 * This buffer is live-side state: it is not in snapshots (what the guest
 * consumed is in the log). End of input is sticky.
 */
import type { MaybePromise } from '../types.ts'

/** Where stdin comes from. `read` returns at most `max` bytes; an empty array means end of input. */
export interface InputSource {
  read(max: number): MaybePromise<Uint8Array>
}

/** How much to ask the source for when only waiting for readability. */
const READ_AHEAD = 64 * 1024

export interface Readiness {
  nbytes: number
  eof: boolean
}

export class StdinReader {
  readonly #source: InputSource | undefined
  #buffered: Uint8Array = new Uint8Array(0)
  #eof = false
  #pending: Promise<void> | undefined
  /** A failed source read, surfaced by the next read or readiness check (not as an unhandled rejection). */
  #error: { err: unknown } | undefined

  constructor(source: InputSource | undefined) {
    this.#source = source
    if (source === undefined) this.#eof = true
  }

  /** Up to `max` bytes (empty at end of input); a Promise while the source has none yet. */
  read(max: number): MaybePromise<Uint8Array> {
    this.#rethrow()
    if (this.#buffered.length > 0 || this.#eof) return this.#take(max)
    if (this.#pending === undefined && this.#start(max)) return this.#take(max)
    return this.#pending!.then(() => this.read(max))
  }

  /** Like read, but never waits: 'again' when nothing is available now. */
  tryRead(max: number): Uint8Array | 'again' {
    this.#rethrow()
    if (this.#buffered.length > 0 || this.#eof) return this.#take(max)
    if (this.#pending === undefined && this.#start(READ_AHEAD)) return this.#take(max)
    return 'again'
  }

  /** Readable now (bytes buffered or end of input)? Else starts a read and returns undefined. */
  readiness(): Readiness | undefined {
    this.#rethrow()
    if (this.#buffered.length === 0 && !this.#eof && this.#pending === undefined) this.#start(READ_AHEAD)
    if (this.#buffered.length > 0 || this.#eof) return { nbytes: this.#buffered.length, eof: this.#eof }
    return undefined
  }

  /** Resolves when the read started by readiness() completes (with data, end of input or an error). */
  whenReadable(): Promise<void> {
    return this.#pending ?? Promise.resolve()
  }

  /** Asks the source; true if it answered synchronously. */
  #start(max: number): boolean {
    const got = this.#source!.read(max)
    if (!(got instanceof Promise)) {
      this.#store(got)
      return true
    }
    this.#pending = got.then(
      (bytes) => {
        this.#pending = undefined
        this.#store(bytes)
      },
      (err: unknown) => {
        this.#pending = undefined
        this.#error = { err }
      },
    )
    return false
  }

  #rethrow(): void {
    const failed = this.#error
    if (failed === undefined) return
    this.#error = undefined
    throw failed.err
  }

  #store(bytes: Uint8Array): void {
    if (bytes.length === 0) this.#eof = true
    else this.#buffered = bytes.slice()
  }

  #take(max: number): Uint8Array {
    const n = Math.min(max, this.#buffered.length)
    const out = this.#buffered.subarray(0, n)
    this.#buffered = this.#buffered.subarray(n)
    return out
  }
}
