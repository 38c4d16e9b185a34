/**
 * Adapts a Node Readable (process.stdin, a pipe, a file stream) to the WASI
 * host's InputSource: `read(max)` resolves with what is available now, waits
 * (without blocking the event loop) when nothing is, and gives an empty array
 * once the stream has ended.
 */
import type { Readable } from 'node:stream'
import type { InputSource } from './wasi/index.ts'

export class ReadableInput implements InputSource {
  readonly #stream: Readable
  #rest: Uint8Array = new Uint8Array(0)
  #ended = false
  #error: Error | undefined

  constructor(stream: Readable) {
    this.#stream = stream
    stream.once('end', () => {
      this.#ended = true
    })
    stream.once('error', (err) => {
      this.#error = err
    })
  }

  async read(max: number): Promise<Uint8Array> {
    for (;;) {
      if (this.#rest.length > 0) return this.#take(max)
      if (this.#error !== undefined) throw this.#error
      const chunk = this.#stream.read() as Buffer | string | null
      if (chunk !== null) {
        this.#rest = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk)
        continue
      }
      if (this.#ended || this.#stream.readableEnded) return new Uint8Array(0)
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#stream.off('readable', done)
          this.#stream.off('end', done)
          this.#stream.off('error', done)
          resolve()
        }
        this.#stream.on('readable', done)
        this.#stream.on('end', done)
        this.#stream.on('error', done)
      })
    }
  }

  #take(max: number): Uint8Array {
    const out = this.#rest.subarray(0, max)
    this.#rest = this.#rest.subarray(out.length)
    return out
  }
}
