/**
 * A shadow's side of the demo: stores each entry the primary streams (appended to
 * a file in its data directory and synced before the ack), and replays the
 * committed prefix with a Replayer fed as the commit point advances.
 */
import { type FileHandle, open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { LogReceiver, MeshNode, StreamEntry } from '../mesh/index.ts'
import {
  decodeEntry,
  describeOutcome,
  EntryDecoder,
  HashChain,
  LogBuffer,
  Replayer,
} from '../replay/log/index.ts'
import { PAUSABLE_WASI_IMPORTS } from '../replay/session.ts'
import { decodeStart, noLiveInput } from '../replay/start-params.ts'
import { EntryKind, type LogEntry } from '../replay/types.ts'
import { VirtualDisk, WasiHost } from '../replay/wasi/index.ts'
import { WasmMachine } from '../replay/wasm/index.ts'
import { DemoError } from './demo-error.ts'
import type { ShadowProgress, StoredLog } from './messages.ts'
import { toHex } from './messages.ts'

export interface ShadowInit {
  node: MeshNode
  logId: string
  image: Uint8Array
  dataDir: string
}

export class Shadow {
  readonly #path: string
  readonly #file: FileHandle
  readonly #stored: LogEntry[] = []
  readonly #buffer = new LogBuffer()
  readonly #tape = new Replayer({ source: this.#buffer })
  #fed = 0
  #commitSeq = -1
  #receiver!: LogReceiver
  #result: { digest: string; outcome: string } | undefined
  #error: string | undefined

  private constructor(path: string, file: FileHandle) {
    this.#path = path
    this.#file = file
  }

  /** Registers the log's receiver and starts the replay, which waits for the first committed entries. */
  static async start(init: ShadowInit): Promise<Shadow> {
    const path = join(init.dataDir, `${init.logId}.log`)
    const shadow = new Shadow(path, await open(path, 'w'))
    shadow.#receiver = init.node.services.logStream.receive(init.logId, {
      store: (entries) => shadow.#store(entries),
      onCommit: (seq) => shadow.#onCommit(seq),
      peerTimeout: 3000,
    })
    shadow.#replay(init.image).then(
      (result) => {
        shadow.#result = result
      },
      (err: unknown) => {
        shadow.#error = err instanceof Error ? err.message : String(err)
      },
    )
    return shadow
  }

  progress(): ShadowProgress {
    return {
      stored: this.#stored.length,
      commitSeq: this.#commitSeq,
      replayed: this.#tape.position,
      done: this.#result !== undefined || this.#error !== undefined,
      ...(this.#result ?? {}),
      ...(this.#error !== undefined ? { error: this.#error } : {}),
    }
  }

  /** Re-reads the log from disk (not from memory) and checks its hash chain. */
  async verify(seq: number): Promise<StoredLog> {
    const frames = new EntryDecoder().pushFrames(new Uint8Array(await readFile(this.#path)))
    const chain = new HashChain()
    let hashAt: string | undefined
    let chainError: string | undefined
    for (const { entry, frame } of frames) {
      try {
        chain.verify(entry, frame)
      } catch (err) {
        chainError = (err as Error).message
        break
      }
      if (entry.seq === seq) hashAt = toHex(chain.lastHash)
    }
    return {
      stored: frames.length,
      chainIntact: chainError === undefined,
      lastHash: toHex(chain.lastHash),
      ...(chainError !== undefined ? { chainError } : {}),
      ...(hashAt !== undefined ? { hashAt } : {}),
    }
  }

  async stop(): Promise<void> {
    await this.#receiver.close()
    await this.#file.close()
  }

  /** Durable before the ack: the receiver acknowledges only once this resolves. */
  async #store(entries: StreamEntry[]): Promise<void> {
    const decoded = entries.map((e) => {
      const entry = decodeEntry(e.bytes)
      if (entry.seq !== e.seq || entry.epoch !== e.epoch) {
        throw new DemoError(`stream entry ${e.seq} carries log entry ${entry.seq} (epoch ${entry.epoch})`)
      }
      return entry
    })
    await this.#file.write(Buffer.concat(entries.map((e) => e.bytes)))
    await this.#file.datasync()
    this.#stored.push(...decoded)
    this.#feed()
  }

  #onCommit(seq: number): void {
    this.#commitSeq = Math.max(this.#commitSeq, seq)
    this.#feed()
  }

  /** Only committed entries are replayed: an uncommitted one could still be cut by a new primary. */
  #feed(): void {
    while (this.#fed < this.#stored.length && this.#fed <= this.#commitSeq) {
      const entry = this.#stored[this.#fed++] as LogEntry
      this.#buffer.append(entry)
      if (entry.kind === EntryKind.Exit) this.#buffer.end()
    }
  }

  async #replay(image: Uint8Array): Promise<{ digest: string; outcome: string }> {
    const tape = this.#tape
    const start = decodeStart(await tape.input('start', noLiveInput))
    const disk = VirtualDisk.deserialize(await tape.input('disk', noLiveInput))
    const host = new WasiHost({ ...start, disk, tape, stdout: () => {} })
    const machine = await WasmMachine.boot(image, { host, tape }, { pausableImports: PAUSABLE_WASI_IMPORTS })
    const result = await machine.run()
    if (result.kind !== 'ended') throw new DemoError('the replay paused unexpectedly')
    // The Exit entry was checked (outcome and state digest); nothing may follow it.
    await tape.finish()
    return { digest: toHex(result.digest), outcome: describeOutcome(result.outcome) }
  }
}
