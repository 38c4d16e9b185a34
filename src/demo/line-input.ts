/**
 * The guest's stdin as the client feeds it: lines pushed one request at a time;
 * a read waits (without blocking the event loop) until a line or the end arrives.
 */
import type { MaybePromise } from '../replay/types.ts'
import type { InputSource } from '../replay/wasi/index.ts'

export class LineInput implements InputSource {
  #rest: Uint8Array = new Uint8Array(0)
  #ended = false
  #wake: (() => void) | undefined

  push(line: string): void {
    if (this.#ended) throw new RangeError('the input has ended')
    const bytes = new TextEncoder().encode(`${line}\n`)
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
