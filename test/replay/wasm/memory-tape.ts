/**
 * An in-memory Tape for the wasm runtime's tests: records every call, or
 * replays a list of entries (optionally making the guest wait for each one).
 */
import { DivergenceError } from '../../../src/errors/index.ts'
import type { CallArg, MaybePromise, Outcome, Tape } from '../../../src/replay/types.ts'

export interface TapeCall {
  fn: string
  args: string
  result: Uint8Array
}

export class MemoryTape implements Tape {
  readonly mode: 'record' | 'replay'
  readonly calls: TapeCall[]
  exits: { outcome: Outcome; digest: Uint8Array }[] = []
  #next = 0
  readonly #delayMs: number | undefined

  private constructor(mode: 'record' | 'replay', calls: TapeCall[], delayMs?: number) {
    this.mode = mode
    this.calls = calls
    this.#delayMs = delayMs
  }

  static record(): MemoryTape {
    return new MemoryTape('record', [])
  }

  /** Replays `calls`; with `delayMs`, each answer arrives that much later (a Promise). */
  static replay(calls: TapeCall[], delayMs?: number): MemoryTape {
    return new MemoryTape('replay', calls, delayMs)
  }

  get position(): number {
    return this.mode === 'record' ? this.calls.length : this.#next
  }

  call(fn: string, args: readonly CallArg[], live: () => MaybePromise<Uint8Array>): MaybePromise<Uint8Array> {
    const key = args.map(String).join(',')
    if (this.mode === 'record') {
      const result = live()
      if (result instanceof Promise) {
        return result.then((r) => {
          this.calls.push({ fn, args: key, result: r })
          return r
        })
      }
      this.calls.push({ fn, args: key, result })
      return result
    }
    const seq = this.#next
    const entry = this.calls[seq]
    if (entry === undefined) throw new DivergenceError(seq, 'end of tape', `${fn}(${key})`)
    if (entry.fn !== fn || entry.args !== key) {
      throw new DivergenceError(seq, `${entry.fn}(${entry.args})`, `${fn}(${key})`)
    }
    this.#next++
    if (this.#delayMs === undefined) return entry.result
    return new Promise((resolve) => setTimeout(() => resolve(entry.result), this.#delayMs))
  }

  input(_name: string, live: () => Uint8Array): Uint8Array {
    return live()
  }

  output(_stream: number, _bytes: Uint8Array): void {}

  exit(outcome: Outcome, digest: Uint8Array): void {
    this.exits.push({ outcome, digest })
  }
}
