/**
 * One replica's guest: the same WebAssembly instance first replays the committed log it is fed and,
 * if this replica becomes primary, goes on live, recording what it does. The group layer never looks
 * inside entries; this class is where group entries meet the machine (one group entry = one encoded
 * machine LogEntry, group seq = machine seq + 1).
 */

import { CheckpointError } from '../../errors/index.ts'
import { decodeCheckpoint } from '../../replay/log/call-codec.ts'
import { equalBytes } from '../../replay/log/hash-chain.ts'
import type { ChainPosition, EntrySink } from '../../replay/log/index.ts'
import { PromotableTape } from '../../replay/promotable-tape.ts'
import { PAUSABLE_WASI_IMPORTS } from '../../replay/session.ts'
import { decodeStart, encodeStart, type StartParams } from '../../replay/start-params.ts'
import { EntryKind, type LogEntry } from '../../replay/types.ts'
import { VirtualDisk, WasiHost } from '../../replay/wasi/index.ts'
import {
  type Checkpoint,
  decodeCheckpoint as decodeMachineCheckpoint,
  encodeCheckpoint,
  WasmMachine,
} from '../../replay/wasm/index.ts'
import { MarkingTape } from './marking-tape.ts'
import type { OutputLog } from './output-log.ts'
import { timeSourceFromEnv } from './skewed-time.ts'
import type { StdinQueue } from './stdin-queue.ts'

/** What a workload's guest starts with. Its /data directory starts empty. */
export interface GuestSpec {
  args: string[]
  env: [string, string][]
}

export type MachineEnd =
  | { kind: 'exited'; outcome: string; digest: Uint8Array }
  | { kind: 'stopped' }
  | { kind: 'failed'; error: Error }

export interface ReplicaMachineInit {
  image: Uint8Array
  /** Start from this checkpoint (encodeCheckpoint bytes, as checkpoint() gives) instead of the log's start. */
  from?: Uint8Array | undefined
  spec: GuestSpec
  output: OutputLog
  stdin: StdinQueue
  /** Where the wasm instrumentation cache lives. */
  cacheDir?: string | undefined
  /** A live entry was recorded: propose it to the group. */
  onLiveEntry: (entry: LogEntry, frame: Uint8Array) => void
  /** Live output, held until entry `seq` commits. */
  onLiveOutput: (seq: number, stream: 'stdout' | 'stderr', bytes: Uint8Array) => void
  /** A checkpoint mark was replayed: the primary's state digest there and ours. */
  onDigestCheck: (seq: number, agree: boolean, expected: Uint8Array, got: Uint8Array) => void
  /** Live: whether to record a checkpoint mark (with the state digest) before the next operation. */
  markDue?: (position: number) => boolean
}

const DATA_DIR: StartParams['preopens'][number] = { guestPath: '/data', diskPath: '/0' }

export class ReplicaMachine {
  readonly #init: ReplicaMachineInit
  readonly #promotable: PromotableTape
  readonly #tape: MarkingTape
  readonly #abort = new AbortController()
  #machine: WasmMachine | undefined
  /** The first machine seq recorded live (undefined while replaying). */
  #liveFrom: number | undefined
  #checkpointWanted:
    | { position: number; resolve(bytes: Uint8Array): void; reject(err: Error): void }
    | undefined
  readonly #restored: { checkpoint: Checkpoint; tape: CheckpointTape } | undefined
  readonly ended: Promise<MachineEnd>

  constructor(init: ReplicaMachineInit) {
    this.#init = init
    this.#restored = init.from ? openReplicaCheckpoint(init.from) : undefined
    if (this.#restored) init.output.rebase(this.#restored.tape.outputLength)
    this.#promotable = new PromotableTape({
      onMark: (entry, atOperationStart) => this.#onMark(entry, atOperationStart),
      onModeChange: () => {
        this.#liveFrom = this.#promotable.position
      },
      onWait: (position) => this.#maybePause(position),
      ...(this.#restored ? { resume: this.#restored.tape.chain } : {}),
    })
    this.#tape = new MarkingTape(this.#promotable, {
      due: (position) => init.markDue?.(position) ?? false,
      digest: () => this.#machine?.stateDigest(),
    })
    this.ended = this.#run().then(
      (end) => end,
      (error: unknown) =>
        this.#abort.signal.aborted
          ? { kind: 'stopped' as const }
          : { kind: 'failed' as const, error: error as Error },
    )
  }

  get mode(): 'replay' | 'record' {
    return this.#promotable.mode
  }

  /** Entries consumed (replay) or recorded (live): the next entry's machine seq. */
  get position(): number {
    return this.#promotable.position
  }

  /** The next committed entry, in order. */
  feed(entry: LogEntry): void {
    this.#promotable.feed(entry)
  }

  /** Once everything fed is replayed, continue live in `epoch`. */
  goLive(epoch: number): void {
    const sink: EntrySink = { append: (entry, frame) => this.#init.onLiveEntry(entry, frame!) }
    this.#promotable.goLive({ sink, epoch })
  }

  /** Where the log stood at the checkpoint this machine started from (undefined: it started at genesis). */
  checkpointChain(): ChainPosition | undefined {
    return this.#restored?.tape.chain
  }

  stateDigest(): Uint8Array | undefined {
    return this.#machine?.stateDigest()
  }

  /**
   * The machine's state once it has replayed exactly `position` entries, as checkpoint bytes. The
   * caller must not feed entries at or past `position` before this resolves. Replay only: every
   * replica checkpoints at the same positions, so their checkpoints are interchangeable.
   */
  checkpoint(position: number): Promise<Uint8Array> {
    if (this.#promotable.mode !== 'replay')
      return Promise.reject(new CheckpointError('a live machine is not checkpointed here'))
    if (this.#checkpointWanted)
      return Promise.reject(new CheckpointError('a checkpoint is already being taken'))
    const wanted = Promise.withResolvers<Uint8Array>()
    this.#checkpointWanted = { position, resolve: wanted.resolve, reject: wanted.reject }
    this.#maybePause(this.#promotable.position)
    return wanted.promise
  }

  /** Gives up a checkpoint not taken yet (the guest never got there); the replay goes on. */
  cancelCheckpoint(reason: string): void {
    this.#checkpointWanted?.reject(new CheckpointError(reason))
    this.#checkpointWanted = undefined
  }

  #maybePause(position: number): void {
    const wanted = this.#checkpointWanted
    if (wanted && position === wanted.position && this.#promotable.waiting && this.#machine) {
      this.#machine.requestPause()
    }
  }

  /** Stops the guest wherever it is (its state is thrown away: it can be rebuilt from the log). */
  async stop(): Promise<void> {
    this.#abort.abort(new Error('replica stopped'))
    this.#checkpointWanted?.reject(new CheckpointError('the replica stopped'))
    this.#checkpointWanted = undefined
    // Not booted yet: it waits for its first entries, which will never come; nothing runs to stop.
    if (!this.#machine) return
    this.#machine.requestPause()
    await this.ended
  }

  async #run(): Promise<MachineEnd> {
    const tape = this.#tape
    const io = {
      tape,
      stdin: this.#init.stdin,
      stdout: (bytes: Uint8Array) => this.#onOutput('stdout', bytes),
      stderr: (bytes: Uint8Array) => this.#onOutput('stderr', bytes),
      signal: this.#abort.signal,
      time: timeSourceFromEnv(),
    }
    const options = {
      pausableImports: PAUSABLE_WASI_IMPORTS,
      ...(this.#init.cacheDir ? { cacheDir: this.#init.cacheDir } : {}),
    }
    if (this.#restored) {
      this.#machine = await WasmMachine.restore(
        this.#init.image,
        this.#restored.checkpoint,
        (saved) => ({ host: WasiHost.fromSnapshot(saved.host, io), tape }),
        options,
      )
    } else {
      const start = decodeStart(
        await tape.input('start', () =>
          encodeStart({ args: this.#init.spec.args, env: this.#init.spec.env, preopens: [DATA_DIR] }),
        ),
      )
      const disk = VirtualDisk.deserialize(
        await tape.input('disk', () => {
          const fresh = new VirtualDisk()
          fresh.makeDirectory(DATA_DIR.diskPath)
          return fresh.serialize()
        }),
      )
      this.#machine = await WasmMachine.boot(
        this.#init.image,
        { host: new WasiHost({ ...start, disk, ...io }), tape },
        options,
      )
    }
    const machine = this.#machine
    if (this.#abort.signal.aborted) return { kind: 'stopped' }
    let result = await machine.run({ signal: this.#abort.signal })
    // Paused for a checkpoint: capture it, then go on where the guest was (also when the checkpoint
    // was given up just as the pause came: only a stop ends the run).
    while (result.kind === 'paused' && !this.#abort.signal.aborted) {
      const wanted = this.#checkpointWanted
      this.#checkpointWanted = undefined
      if (wanted) {
        try {
          const blob: CheckpointTape = {
            chain: this.#promotable.snapshot(),
            outputLength: this.#init.output.length,
          }
          wanted.resolve(encodeCheckpoint(machine.captureCheckpoint(encodeCheckpointTape(blob))))
        } catch (err) {
          wanted.reject(err as Error)
        }
      }
      result = await machine.run({ signal: this.#abort.signal })
    }
    this.#checkpointWanted?.reject(new CheckpointError('the guest ended before the checkpoint position'))
    this.#checkpointWanted = undefined
    if (result.kind === 'paused') return { kind: 'stopped' }
    this.#init.output.end()
    const outcome =
      result.outcome.kind === 'exit'
        ? `exit ${result.outcome.code}`
        : result.outcome.kind === 'trap'
          ? `trap: ${result.outcome.message}`
          : 'stack overflow'
    return { kind: 'exited', outcome, digest: result.digest }
  }

  /** The Output entry was just consumed or recorded: it is the tape's last entry. */
  #onOutput(stream: 'stdout' | 'stderr', bytes: Uint8Array): void {
    const seq = this.#promotable.position - 1
    // The tape may have gone live between replaying this Output entry and the host passing its
    // bytes on: what decides is whether the entry itself was replayed (committed) or recorded.
    if (this.#liveFrom === undefined || seq < this.#liveFrom) this.#init.output.append(seq, stream, bytes)
    else this.#init.onLiveOutput(seq, stream, bytes)
  }

  #onMark(entry: LogEntry, atOperationStart: boolean): void {
    if (entry.kind !== EntryKind.Checkpoint) return
    // The primary took its digest at the start of an operation; a mark passed early (right after the
    // entry before it, or at promotion) meets the guest before it got there: nothing to compare.
    if (!atOperationStart) return
    const expected = decodeCheckpoint(entry.payload, entry.seq).stateDigest
    const got = this.#machine?.stateDigest()
    if (got === undefined) return
    this.#init.onDigestCheck(entry.seq, equalBytes(expected, got), expected, got)
  }
}

/** What a replica keeps of its tape in a checkpoint: where the log stands, and how much output came before. */
interface CheckpointTape {
  chain: ChainPosition
  outputLength: number
}

function encodeCheckpointTape(t: CheckpointTape): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      position: t.chain.position,
      lastHash: Buffer.from(t.chain.lastHash).toString('hex'),
      epoch: t.chain.epoch ?? null,
      outputLength: t.outputLength,
    }),
  )
}

function openReplicaCheckpoint(bytes: Uint8Array): { checkpoint: Checkpoint; tape: CheckpointTape } {
  const checkpoint = decodeMachineCheckpoint(bytes)
  let raw: { position?: unknown; lastHash?: unknown; epoch?: unknown; outputLength?: unknown }
  try {
    raw = JSON.parse(new TextDecoder().decode(checkpoint.tape))
  } catch (err) {
    throw new CheckpointError(`the checkpoint's tape record is not JSON: ${(err as Error).message}`)
  }
  if (
    typeof raw.position !== 'number' ||
    typeof raw.lastHash !== 'string' ||
    typeof raw.outputLength !== 'number' ||
    !(raw.epoch === null || typeof raw.epoch === 'number')
  ) {
    throw new CheckpointError('the checkpoint was not taken by a replica (its tape record is not one)')
  }
  return {
    checkpoint,
    tape: {
      chain: {
        position: raw.position,
        lastHash: new Uint8Array(Buffer.from(raw.lastHash, 'hex')),
        ...(raw.epoch === null ? {} : { epoch: raw.epoch }),
      } as ChainPosition,
      outputLength: raw.outputLength,
    },
  }
}
