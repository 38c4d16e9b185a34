/**
 * The Tape in replay mode: answers every nondeterministic question from the log,
 * after checking that the guest asked exactly what the recording asked, and
 * verifies the hash chain of every entry it consumes.
 */
import { DivergenceError, LogEndedError, UnderstudyError } from '../../errors/index.ts'
import {
  type CallArg,
  EntryKind,
  type LogEntry,
  type MaybePromise,
  type Outcome,
  type Tape,
} from '../types.ts'
import { decodeCall, decodeExit, decodeInput, decodeOutput } from './call-codec.ts'
import { describeCall, describeEntry, describeExit, describeInput, describeOutput } from './describe.ts'
import { type ChainPosition, equalBytes, HashChain, sha256 } from './hash-chain.ts'

/** Where a replayer gets entries: a file read into memory, a LogBuffer, the mesh. */
export interface EntrySource {
  /** The next entry, or undefined when the log has ended. A Promise when it has not arrived yet. */
  next(): MaybePromise<LogEntry | undefined>
  /** The next entry if it has already arrived, without taking it; undefined otherwise. */
  peek?(): LogEntry | undefined
}

export interface ReplayerOptions {
  source: EntrySource
  /** The source starts mid-log, here (e.g. after restoring a checkpoint). Default: genesis. */
  resume?: ChainPosition
  /** Called with each Checkpoint and EpochStart entry passed over; a throw stops the replay. */
  onMark?: (entry: LogEntry) => void
}

export class Replayer implements Tape {
  readonly mode = 'replay' as const
  readonly #source: EntrySource
  readonly #chain: HashChain
  readonly #onMark: ((entry: LogEntry) => void) | undefined
  #busy = false
  /** Set on the first error: a replay that diverged or hit a corrupt entry does not go on. */
  #failed: { error: unknown } | undefined

  constructor(options: ReplayerOptions) {
    this.#source = options.source
    this.#chain = new HashChain(options.resume)
    this.#onMark = options.onMark
  }

  get position(): number {
    return this.#chain.position
  }

  /** Hash of the log consumed so far. */
  get lastHash(): Uint8Array {
    return this.#chain.lastHash
  }

  /** Epoch of the last entry consumed. */
  get epoch(): number | undefined {
    return this.#chain.epoch
  }

  /** Where the replay stands: what a successor recorder resumes from. */
  snapshot(): ChainPosition {
    return this.#chain.snapshot()
  }

  /** The recorded result; `live` is never run. Synchronous when the entry is already available. */
  call(
    fn: string,
    args: readonly CallArg[],
    _live: () => MaybePromise<Uint8Array>,
  ): MaybePromise<Uint8Array> {
    return this.#run(
      () => describeCall(fn, args),
      (entry) => {
        if (entry.kind !== EntryKind.Call) {
          throw new DivergenceError(entry.seq, describeEntry(entry), describeCall(fn, args))
        }
        const rec = decodeCall(entry.payload, entry.seq)
        if (rec.fn !== fn || !sameArgs(rec.args, args)) {
          throw new DivergenceError(entry.seq, describeCall(rec.fn, rec.args), describeCall(fn, args))
        }
        return rec.result
      },
    )
  }

  input(name: string, _live: () => Uint8Array): MaybePromise<Uint8Array> {
    return this.#run(
      () => `input(${JSON.stringify(name)})`,
      (entry) => {
        const asked = `input(${JSON.stringify(name)})`
        if (entry.kind !== EntryKind.Input) throw new DivergenceError(entry.seq, describeEntry(entry), asked)
        const rec = decodeInput(entry.payload, entry.seq)
        if (rec.name !== name) {
          throw new DivergenceError(entry.seq, describeInput(rec.name, rec.bytes.length), asked)
        }
        return rec.bytes
      },
    )
  }

  /** Checks the guest's output against the recorded digest: the first differing write diverges. */
  output(stream: number, bytes: Uint8Array): MaybePromise<void> {
    const got = () => describeOutput(stream, bytes.length, sha256(bytes), bytes)
    return this.#run(got, (entry) => {
      if (entry.kind !== EntryKind.Output) throw new DivergenceError(entry.seq, describeEntry(entry), got())
      const rec = decodeOutput(entry.payload, entry.seq)
      if (rec.stream !== stream || rec.length !== bytes.length || !equalBytes(rec.digest, sha256(bytes))) {
        throw new DivergenceError(entry.seq, describeOutput(rec.stream, rec.length, rec.digest), got())
      }
    })
  }

  exit(outcome: Outcome, stateDigest: Uint8Array): MaybePromise<void> {
    const got = () => describeExit(outcome, stateDigest)
    return this.#run(got, (entry) => {
      if (entry.kind !== EntryKind.Exit) throw new DivergenceError(entry.seq, describeEntry(entry), got())
      const rec = decodeExit(entry.payload, entry.seq)
      if (!sameOutcome(rec.outcome, outcome) || !equalBytes(rec.stateDigest, stateDigest)) {
        throw new DivergenceError(entry.seq, describeExit(rec.outcome, rec.stateDigest), got())
      }
    })
  }

  /**
   * Checks that the log ends here (after marks, which are passed over). Call it
   * after exit() on a finished recording; it waits if the source is still open.
   */
  finish(): MaybePromise<void> {
    this.#ready()
    return this.#guard(() => this.#drain())
  }

  /**
   * Consumes the marks (Checkpoint, EpochStart) at the head of the source that
   * have already arrived, verifying each and reporting it to onMark, without
   * waiting: a replica about to go live must have checked every mark it was given.
   * Needs a source with peek(). Returns how many marks it passed.
   */
  passMarks(): number {
    const source = this.#source
    const peek = source.peek?.bind(source)
    if (peek === undefined) throw new TypeError('passMarks needs an EntrySource with peek()')
    this.#ready()
    let passed = 0
    try {
      for (let head = peek(); head !== undefined && isMark(head); head = peek()) {
        if (source.next() !== head)
          throw new TypeError('the source did not return the entry its peek() showed')
        this.#accept(head, () => 'a mark')
        passed++
      }
    } catch (err) {
      this.#failed = { error: err }
      throw err
    }
    return passed
  }

  #drain(): MaybePromise<void> {
    for (;;) {
      const next = this.#source.next()
      if (next instanceof Promise) return next.then((e) => (this.#drained(e) ? undefined : this.#drain()))
      if (this.#drained(next)) return
    }
  }

  #drained(entry: LogEntry | undefined): boolean {
    if (entry === undefined) return true
    this.#chain.verify(entry)
    if (isMark(entry)) {
      this.#onMark?.(entry)
      return false
    }
    throw new DivergenceError(entry.seq, describeEntry(entry), 'the end of the run')
  }

  #run<T>(ask: () => string, check: (entry: LogEntry) => T): MaybePromise<T> {
    this.#ready()
    return this.#guard(() => {
      const taken = this.#take(ask)
      return taken instanceof Promise ? taken.then(check) : check(taken)
    })
  }

  #ready(): void {
    if (this.#failed !== undefined) throw this.#failed.error
    if (this.#busy) {
      throw new UnderstudyError(
        'ERR_TAPE_BUSY',
        'the replayer is still waiting for an entry for an earlier call',
      )
    }
  }

  /** Runs `work`, remembering its first error; marks the replayer busy while a Promise is pending. */
  #guard<T>(work: () => MaybePromise<T>): MaybePromise<T> {
    let result: MaybePromise<T>
    try {
      result = work()
    } catch (err) {
      this.#failed = { error: err }
      throw err
    }
    if (!(result instanceof Promise)) return result
    this.#busy = true
    return result.then(
      (v) => {
        this.#busy = false
        return v
      },
      (err: unknown) => {
        this.#busy = false
        this.#failed = { error: err }
        throw err
      },
    )
  }

  /** The next entry the guest must match, passing over marks. */
  #take(ask: () => string): MaybePromise<LogEntry> {
    for (;;) {
      const next = this.#source.next()
      if (next instanceof Promise) return next.then((e) => this.#accept(e, ask) ?? this.#take(ask))
      const entry = this.#accept(next, ask)
      if (entry !== undefined) return entry
    }
  }

  #accept(entry: LogEntry | undefined, ask: () => string): LogEntry | undefined {
    if (entry === undefined) throw new LogEndedError(this.#chain.position, ask())
    this.#chain.verify(entry)
    if (!isMark(entry)) return entry
    this.#onMark?.(entry)
    return undefined
  }
}

/** Checkpoint and EpochStart entries: marks the machine makes on its own, passed over by a replay. */
export function isMark(entry: LogEntry): boolean {
  return entry.kind === EntryKind.Checkpoint || entry.kind === EntryKind.EpochStart
}

/** Same values and same types: an i32 passed where an i64 was recorded is a divergence. */
function sameArgs(a: readonly CallArg[], b: readonly CallArg[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.kind === 'exit') return b.kind === 'exit' && a.code === b.code
  if (a.kind === 'trap') return b.kind === 'trap' && a.message === b.message
  return a.kind === b.kind
}
