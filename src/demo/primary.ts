/**
 * The primary's side of the demo: runs the guest live with a Recorder, keeps the
 * log in memory, streams it to every shadow over the mesh's log stream, and
 * releases a reply to the client only once every shadow has stored the entry that
 * produced it (stricter than the design's majority rule, which comes with replica groups).
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import type { LogSender, MeshNode, SourceItem, StreamEntry } from '../mesh/index.ts'
import { describeOutcome, encodeEntry, Recorder } from '../replay/log/index.ts'
import { PAUSABLE_WASI_IMPORTS, type StartParams } from '../replay/session.ts'
import { encodeStart } from '../replay/start-params.ts'
import type { LogEntry } from '../replay/types.ts'
import { VirtualDisk, WasiHost } from '../replay/wasi/index.ts'
import { WasmMachine } from '../replay/wasm/index.ts'
import { DemoError } from './demo-error.ts'
import { LineInput } from './line-input.ts'
import type { PrimaryResult, Reply } from './messages.ts'
import { toHex } from './messages.ts'

export interface PrimaryInit {
  node: MeshNode
  logId: string
  /** The guest module (the kv service). */
  image: Uint8Array
  shadows: PeerId[]
  /** Where the guest's /data is seeded from (an empty directory is made there). */
  dataDir: string
  /** The epoch stamped on entries and streams. */
  epoch: number
}

/** Fast heartbeats so a shadow learns the commit point within ~100 ms on loopback. */
const SENDER_TIMING = {
  heartbeatInterval: 100,
  peerTimeout: 3000,
  reconnectMinDelay: 50,
  reconnectMaxDelay: 500,
}

interface HeldOutput {
  seq: number
  hash: string
  bytes: Uint8Array
}

export class Primary {
  readonly #entries: StreamEntry[] = []
  readonly #senders: LogSender[] = []
  readonly #stdin = new LineInput()
  readonly #held: HeldOutput[] = []
  readonly #replies: Reply[] = []
  #waiting: { resolve(reply: Reply): void; reject(err: Error): void } | undefined
  #text = ''
  #commit = -1
  #failure: Error | undefined
  #recorder!: Recorder
  #run!: Promise<PrimaryResult>

  /** Starts streaming to the shadows and boots the guest; it then waits for the client's first request. */
  static async start(init: PrimaryInit): Promise<Primary> {
    const primary = new Primary()
    await primary.#start(init)
    return primary
  }

  /** Feeds one request line to the guest and resolves with its reply once every shadow stored it. */
  request(line: string): Promise<Reply> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    if (this.#waiting !== undefined) return Promise.reject(new DemoError('one request at a time'))
    this.#stdin.push(line)
    const ready = this.#replies.shift()
    if (ready !== undefined) return Promise.resolve(ready)
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject }
    })
  }

  /** Ends the guest's input, waits for it to exit and for every shadow to store the whole log. */
  finish(): Promise<PrimaryResult> {
    this.#stdin.end()
    return this.#run
  }

  async stop(): Promise<void> {
    await Promise.all(this.#senders.map((s) => s.stop()))
  }

  async #start(init: PrimaryInit): Promise<void> {
    for (const peer of init.shadows) {
      const sender = init.node.services.logStream.send(peer, {
        logId: init.logId,
        epoch: init.epoch,
        readFrom: (seq) => this.#readFrom(seq),
        onAck: () => this.#onAck(),
        ...SENDER_TIMING,
      })
      sender.stopped.then(
        (err) => {
          if (err !== undefined) this.#fail(new DemoError(`the log stream to ${peer} failed: ${err.message}`))
        },
        (err: unknown) => this.#fail(err as Error),
      )
      this.#senders.push(sender)
    }

    const recorder = new Recorder({
      sink: { append: (entry, frame) => this.#append(entry, frame) },
      epoch: init.epoch,
    })
    this.#recorder = recorder
    const seedDir = join(init.dataDir, 'kv-seed')
    await mkdir(seedDir, { recursive: true })
    const start: StartParams = {
      args: ['kv', '/data'],
      env: [],
      preopens: [{ guestPath: '/data', diskPath: '/0' }],
    }
    recorder.input('start', () => encodeStart(start))
    const disk = new VirtualDisk()
    await disk.seedDirectory('/0', seedDir)
    recorder.input('disk', () => disk.serialize())
    const host = new WasiHost({
      ...start,
      disk,
      tape: recorder,
      stdin: this.#stdin,
      stdout: (bytes) => this.#hold(bytes),
    })
    const machine = await WasmMachine.boot(
      init.image,
      { host, tape: recorder },
      { pausableImports: PAUSABLE_WASI_IMPORTS },
    )
    this.#run = this.#drive(machine)
    // A failure before finish() is asked for reaches the client through #fail.
    this.#run.catch((err: unknown) => this.#fail(err as Error))
  }

  async #drive(machine: WasmMachine): Promise<PrimaryResult> {
    const result = await machine.run()
    if (result.kind !== 'ended') throw new DemoError('the guest paused unexpectedly')
    const last = this.#entries.length - 1
    await Promise.all(this.#senders.map((s) => s.waitForAck(last, { signal: AbortSignal.timeout(15_000) })))
    return {
      entries: this.#entries.length,
      digest: toHex(result.digest),
      outcome: describeOutcome(result.outcome),
      lastHash: toHex(this.#recorder.lastHash),
      ackedByAll: this.#commit + 1,
    }
  }

  #append(entry: LogEntry, frame: Uint8Array | undefined): void {
    this.#entries.push({ seq: entry.seq, epoch: entry.epoch, bytes: frame ?? encodeEntry(entry) })
    for (const sender of this.#senders) sender.notify(entry.seq)
  }

  /** The sender reads what is in memory now and ends; notify() restarts it when more comes. */
  async *#readFrom(seq: number): AsyncGenerator<SourceItem> {
    if (seq < this.#entries.length) yield this.#entries.slice(seq)
  }

  /** The stdout sink runs right after the Output entry was appended: that entry is the last one. */
  #hold(bytes: Uint8Array): void {
    this.#held.push({
      seq: this.#recorder.position - 1,
      hash: toHex(this.#recorder.lastHash),
      bytes: bytes.slice(),
    })
    this.#release()
  }

  #onAck(): void {
    const commit = Math.min(...this.#senders.map((s) => s.ackedSeq))
    if (commit <= this.#commit) return
    this.#commit = commit
    for (const sender of this.#senders) sender.setCommit(commit)
    this.#release()
  }

  /** Passes on every held output whose entry all shadows stored, one reply per complete line. */
  #release(): void {
    while (this.#held.length > 0 && (this.#held[0] as HeldOutput).seq <= this.#commit) {
      const out = this.#held.shift() as HeldOutput
      this.#text += new TextDecoder().decode(out.bytes)
      for (let nl = this.#text.indexOf('\n'); nl >= 0; nl = this.#text.indexOf('\n')) {
        const reply = { reply: this.#text.slice(0, nl), seq: out.seq, hash: out.hash }
        this.#text = this.#text.slice(nl + 1)
        const waiting = this.#waiting
        this.#waiting = undefined
        if (waiting !== undefined) waiting.resolve(reply)
        else this.#replies.push(reply)
      }
    }
  }

  #fail(err: Error): void {
    this.#failure ??= err
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting?.reject(err)
  }
}
