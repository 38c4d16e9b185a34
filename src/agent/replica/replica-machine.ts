/**
 * One replica's guest: the same WebAssembly instance first replays the committed log it is fed and,
 * if this replica becomes primary, goes on live, recording what it does. The group layer never looks
 * inside entries; this class is where group entries meet the machine (one group entry = one encoded
 * machine LogEntry, group seq = machine seq + 1).
 */
import { decodeCheckpoint } from '../../replay/log/call-codec.ts'
import { equalBytes } from '../../replay/log/hash-chain.ts'
import type { EntrySink } from '../../replay/log/index.ts'
import { PromotableTape } from '../../replay/promotable-tape.ts'
import { PAUSABLE_WASI_IMPORTS } from '../../replay/session.ts'
import { decodeStart, encodeStart, type StartParams } from '../../replay/start-params.ts'
import { EntryKind, type LogEntry } from '../../replay/types.ts'
import { VirtualDisk, WasiHost } from '../../replay/wasi/index.ts'
import { WasmMachine } from '../../replay/wasm/index.ts'
import { MarkingTape } from './marking-tape.ts'
import { timeSourceFromEnv } from './skewed-time.ts'
import type { OutputLog } from './output-log.ts'
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
  readonly ended: Promise<MachineEnd>

  constructor(init: ReplicaMachineInit) {
    this.#init = init
    this.#promotable = new PromotableTape({ onMark: (entry) => this.#onMark(entry) })
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

  stateDigest(): Uint8Array | undefined {
    return this.#machine?.stateDigest()
  }

  /** Stops the guest wherever it is (its state is thrown away: it can be rebuilt from the log). */
  async stop(): Promise<void> {
    this.#abort.abort(new Error('replica stopped'))
    this.#machine?.requestPause()
    await this.ended
  }

  async #run(): Promise<MachineEnd> {
    const tape = this.#tape
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
    const host = new WasiHost({
      ...start,
      disk,
      tape,
      stdin: this.#init.stdin,
      stdout: (bytes) => this.#onOutput('stdout', bytes),
      stderr: (bytes) => this.#onOutput('stderr', bytes),
      signal: this.#abort.signal,
      time: timeSourceFromEnv(),
    })
    this.#machine = await WasmMachine.boot(
      this.#init.image,
      { host, tape },
      {
        pausableImports: PAUSABLE_WASI_IMPORTS,
        ...(this.#init.cacheDir ? { cacheDir: this.#init.cacheDir } : {}),
      },
    )
    if (this.#abort.signal.aborted) return { kind: 'stopped' }
    const result = await this.#machine.run({ signal: this.#abort.signal })
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
    if (this.#promotable.mode === 'replay') this.#init.output.append(seq, stream, bytes)
    else this.#init.onLiveOutput(seq, stream, bytes)
  }

  #onMark(entry: LogEntry): void {
    if (entry.kind !== EntryKind.Checkpoint) return
    const expected = decodeCheckpoint(entry.payload, entry.seq).stateDigest
    const got = this.#machine?.stateDigest()
    if (got === undefined) return
    this.#init.onDigestCheck(entry.seq, equalBytes(expected, got), expected, got)
  }
}
