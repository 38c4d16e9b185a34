/**
 * A Tape that records nothing: every call runs live. The plain `run` mode, and
 * the baseline that recording overhead is measured against.
 */
import type { CallArg, MaybePromise, Outcome, Tape } from './types.ts'

export class LiveTape implements Tape {
  readonly mode = 'record' as const
  #position = 0

  /** Tape operations seen so far (the entries a recorder would have appended). */
  get position(): number {
    return this.#position
  }

  call(
    _fn: string,
    _args: readonly CallArg[],
    live: () => MaybePromise<Uint8Array>,
  ): MaybePromise<Uint8Array> {
    this.#position++
    return live()
  }

  input(_name: string, live: () => Uint8Array): Uint8Array {
    this.#position++
    return live()
  }

  output(_stream: number, _bytes: Uint8Array): void {
    this.#position++
  }

  exit(_outcome: Outcome, _stateDigest: Uint8Array): void {
    this.#position++
  }
}
