/**
 * The Tape in record mode: runs each nondeterministic operation live and appends
 * its result to the log, keeping seq and the hash chain.
 */
import { AbandonedCallError, UnderstudyError } from '../../errors/index.ts'
import {
  type CallArg,
  EntryKind,
  type LogEntry,
  type MaybePromise,
  type Outcome,
  type Tape,
} from '../types.ts'
import {
  type CheckpointPayload,
  type EpochStartPayload,
  encodeCall,
  encodeCheckpoint,
  encodeEpochStart,
  encodeExit,
  encodeInput,
  encodeOutput,
} from './call-codec.ts'
import { type ChainPosition, HashChain, sha256 } from './hash-chain.ts'

/** Where a recorder puts its entries: a file, a LogBuffer, the mesh. */
export interface EntrySink {
  /**
   * Takes the next entry. `frame` is its encoding (encodeEntry(entry)), passed so
   * a sink that stores or sends bytes need not encode again. A throw stops the recorder.
   */
  append(entry: LogEntry, frame?: Uint8Array): void
}

export interface RecorderOptions {
  sink: EntrySink
  /** Epoch stamped on entries (default: the resume point's epoch, else 0). */
  epoch?: number
  /** Continue a log from here (after replaying it to this point) instead of from genesis. */
  resume?: ChainPosition
}

export class Recorder implements Tape {
  readonly mode = 'record' as const
  readonly #sink: EntrySink
  readonly #chain: HashChain
  #epoch: number
  #busy = false
  /** Identifies the blocking call in flight; abandon() forgets it. */
  #pendingCall: symbol | undefined
  /** Set once the sink failed: the log has a hole, so every later use fails too. */
  #failed: { error: unknown } | undefined

  constructor(options: RecorderOptions) {
    this.#sink = options.sink
    this.#chain = new HashChain(options.resume)
    this.#epoch = options.epoch ?? options.resume?.epoch ?? 0
    const last = this.#chain.epoch
    if (last !== undefined && this.#epoch < last) {
      throw new RangeError(`epoch ${this.#epoch} is older than the resumed log's epoch ${last}`)
    }
  }

  get position(): number {
    return this.#chain.position
  }

  /** Hash of the log so far (the next entry's prevHash). */
  get lastHash(): Uint8Array {
    return this.#chain.lastHash
  }

  get epoch(): number {
    return this.#epoch
  }

  /** Where the log stands, for a checkpoint or to hand over to a replayer or a successor. */
  snapshot(): ChainPosition {
    return { position: this.#chain.position, lastHash: this.#chain.lastHash, epoch: this.#epoch }
  }

  /**
   * Runs `live` and records its result. If `live` is synchronous, so is this (no
   * microtask: Asyncify must not see a Promise it does not need). If `live` throws,
   * nothing is recorded: the host must turn guest-visible failures into result
   * bytes (an errno), or the log will not replay.
   */
  call(fn: string, args: readonly CallArg[], live: () => MaybePromise<Uint8Array>): MaybePromise<Uint8Array> {
    this.#ready()
    const result = live()
    if (!(result instanceof Promise)) {
      this.#append(EntryKind.Call, encodeCall(fn, args, result))
      return result
    }
    this.#busy = true
    const call = Symbol(fn)
    this.#pendingCall = call
    return result.then(
      (bytes) => {
        if (this.#pendingCall !== call) throw new AbandonedCallError(fn)
        this.#busy = false
        this.#pendingCall = undefined
        this.#append(EntryKind.Call, encodeCall(fn, args, bytes))
        return bytes
      },
      (err: unknown) => {
        if (this.#pendingCall === call) {
          this.#busy = false
          this.#pendingCall = undefined
        }
        throw err
      },
    )
  }

  /**
   * The machine paused while a blocking call was pending: that call will never
   * be recorded (the guest makes it again on resume), and the tape is free.
   */
  abandon(): void {
    this.#busy = false
    this.#pendingCall = undefined
  }

  input(name: string, live: () => Uint8Array): Uint8Array {
    this.#ready()
    const bytes = live()
    this.#append(EntryKind.Input, encodeInput(name, bytes))
    return bytes
  }

  output(stream: number, bytes: Uint8Array): void {
    this.#ready()
    this.#append(EntryKind.Output, encodeOutput({ stream, length: bytes.length, digest: sha256(bytes) }))
  }

  exit(outcome: Outcome, stateDigest: Uint8Array): void {
    this.#ready()
    this.#append(EntryKind.Exit, encodeExit({ outcome, stateDigest }))
  }

  /**
   * Appends a mark the machine makes on its own: a checkpoint taken here, or a new
   * epoch (which must be above the current one, and stamps this and later entries).
   */
  mark(kind: typeof EntryKind.Checkpoint, payload: CheckpointPayload): LogEntry
  mark(kind: typeof EntryKind.EpochStart, payload: EpochStartPayload): LogEntry
  mark(
    kind: typeof EntryKind.Checkpoint | typeof EntryKind.EpochStart,
    payload: CheckpointPayload | EpochStartPayload,
  ): LogEntry {
    this.#ready()
    if (kind === EntryKind.Checkpoint)
      return this.#append(kind, encodeCheckpoint(payload as CheckpointPayload))
    if (kind !== EntryKind.EpochStart)
      throw new RangeError(`mark takes a checkpoint or an epoch start, not ${kind}`)
    const { epoch } = payload as EpochStartPayload
    const last = this.#chain.epoch
    if (epoch < this.#epoch || (last !== undefined && epoch <= last)) {
      throw new RangeError(`an epoch start must raise the epoch (now ${this.#epoch}), got ${epoch}`)
    }
    const payloadBytes = encodeEpochStart({ epoch })
    this.#epoch = epoch
    return this.#append(kind, payloadBytes)
  }

  #ready(): void {
    if (this.#failed !== undefined) {
      throw new UnderstudyError('ERR_TAPE_FAILED', 'the recorder stopped: its sink failed earlier', {
        cause: this.#failed.error,
      })
    }
    if (this.#busy) {
      throw new UnderstudyError(
        'ERR_TAPE_BUSY',
        'the recorder is still waiting for a blocking call to finish',
      )
    }
  }

  #append(kind: EntryKind, payload: Uint8Array): LogEntry {
    const { entry, frame } = this.#chain.append(kind, this.#epoch, payload)
    try {
      this.#sink.append(entry, frame)
    } catch (err) {
      this.#failed = { error: err }
      throw err
    }
    return entry
  }
}
