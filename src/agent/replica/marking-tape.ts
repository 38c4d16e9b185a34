/**
 * Puts checkpoint marks carrying the state digest into a live recording, so every shadow can compare
 * its own state with the primary's at the same entry. A mark is written at the start of a tape
 * operation, before anything of it is recorded: the one point a replaying shadow reaches in the same
 * state (its replayer consumes the mark when the guest asks the same operation).
 */

import type { PromotableTape } from '../../replay/promotable-tape.ts'
import type { CallArg, MaybePromise, Outcome, Tape } from '../../replay/types.ts'
import { EntryKind } from '../../replay/types.ts'

export interface MarkingOptions {
  /** Whether a mark is due before the operation at this position. */
  due: (position: number) => boolean
  /** The machine's state digest now; undefined before the machine exists (no mark then). */
  digest: () => Uint8Array | undefined
}

export class MarkingTape implements Tape {
  readonly #inner: PromotableTape
  readonly #options: MarkingOptions

  constructor(inner: PromotableTape, options: MarkingOptions) {
    this.#inner = inner
    this.#options = options
  }

  get mode(): 'record' | 'replay' {
    return this.#inner.mode
  }

  get position(): number {
    return this.#inner.position
  }

  call(fn: string, args: readonly CallArg[], live: () => MaybePromise<Uint8Array>): MaybePromise<Uint8Array> {
    this.#maybeMark()
    return this.#inner.call(fn, args, live)
  }

  input(name: string, live: () => Uint8Array): MaybePromise<Uint8Array> {
    this.#maybeMark()
    return this.#inner.input(name, live)
  }

  output(stream: number, bytes: Uint8Array): MaybePromise<void> {
    this.#maybeMark()
    return this.#inner.output(stream, bytes)
  }

  exit(outcome: Outcome, stateDigest: Uint8Array): MaybePromise<void> {
    return this.#inner.exit(outcome, stateDigest)
  }

  abandon(): void {
    this.#inner.abandon?.()
  }

  #maybeMark(): void {
    const recorder = this.#inner.recorder
    if (this.#inner.mode !== 'record' || recorder === undefined) return
    if (!this.#options.due(recorder.position)) return
    const stateDigest = this.#options.digest()
    if (stateDigest !== undefined) recorder.mark(EntryKind.Checkpoint, { stateDigest })
  }
}
