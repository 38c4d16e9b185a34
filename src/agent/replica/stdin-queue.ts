/**
 * The live guest's stdin on the primary: bytes clients sent, read by the guest when it asks. A read
 * waits (without blocking the event loop) until bytes or the end arrive. Whatever the guest reads is
 * recorded in the log by the tape, so a new primary never needs this queue's contents: bytes not yet
 * read when a primary dies were never acknowledged and the client sends them again.
 */
import type { MaybePromise } from '../../replay/types.ts'
import type { InputSource } from '../../replay/wasi/index.ts'

export class StdinQueue implements InputSource {
  #rest: Uint8Array = new Uint8Array(0)
  #ended = false
  #wake: (() => void) | undefined

  get ended(): boolean {
    return this.#ended
  }

  /** Bytes waiting to be read by the guest. */
  get pending(): number {
    return this.#rest.length
  }

  push(bytes: Uint8Array): void {
    if (this.#ended) throw new RangeError('stdin has been closed')
    const joined = new Uint8Array(this.#rest.length + bytes.length)
    joined.set(this.#rest)
    joined.set(bytes, this.#rest.length)
    this.#rest = joined
    this.#notify()
  }

  end(): void {
    this.#ended = true
    this.#notify()
  }

  /** Synchronous when bytes (or the end) are there, so the guest need not unwind. */
  read(max: number): MaybePromise<Uint8Array> {
    if (this.#rest.length > 0 || this.#ended) return this.#take(max)
    return new Promise<void>((resolve) => {
      this.#wake = resolve
    }).then(() => this.read(max))
  }

  #take(max: number): Uint8Array {
    const out = this.#rest.subarray(0, max)
    this.#rest = this.#rest.subarray(out.length)
    return out
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}
