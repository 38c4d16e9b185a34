/**
 * Helpers for the promotion tests: a guest booted on any tape (recording or
 * replaying), stdin fed line by line, stdout collected line by line, a log
 * collected with its frames, and a seeded stream of kv requests.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import type { EntrySink } from '../../src/replay/log/index.ts'
import { encodeEntry } from '../../src/replay/log/index.ts'
import { PAUSABLE_WASI_IMPORTS } from '../../src/replay/session.ts'
import { decodeStart, encodeStart, type StartParams } from '../../src/replay/start-params.ts'
import type { LogEntry, MaybePromise, Tape } from '../../src/replay/types.ts'
import { type InputSource, type TimeSource, VirtualDisk, WasiHost } from '../../src/replay/wasi/index.ts'
import { WasmMachine } from '../../src/replay/wasm/index.ts'

const te = new TextEncoder()
const td = new TextDecoder()

/** stdin as a client feeds it: a read waits until a line (or the end) arrives; `onRead` sees every read. */
export class LineFeed implements InputSource {
  readonly #onRead: (() => void) | undefined
  #rest = new Uint8Array(0)
  #ended = false
  #wake: (() => void) | undefined

  constructor(onRead?: () => void) {
    this.#onRead = onRead
  }

  push(...lines: string[]): void {
    this.pushText(lines.map((l) => `${l}\n`).join(''))
  }

  pushText(text: string): void {
    const bytes = te.encode(text)
    const joined = new Uint8Array(this.#rest.length + bytes.length)
    joined.set(this.#rest)
    joined.set(bytes, this.#rest.length)
    this.#rest = joined
    this.#notify()
  }

  end(): void {
    this.#ended = true
    this.#notify()
  }

  read(max: number): MaybePromise<Uint8Array> {
    this.#onRead?.()
    if (this.#rest.length > 0 || this.#ended) {
      const out = this.#rest.slice(0, max)
      this.#rest = this.#rest.subarray(out.length)
      return out
    }
    return new Promise<void>((resolve) => {
      this.#wake = resolve
    }).then(() => this.read(max))
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}

/** stdout collected as text; `lines(n)` resolves once n complete lines were written. */
export class LineCollector {
  text = ''
  readonly #onLine: ((count: number) => void) | undefined
  #waiters: { n: number; resolve: () => void }[] = []

  constructor(onLine?: (count: number) => void) {
    this.#onLine = onLine
  }

  get count(): number {
    return this.text.split('\n').length - 1
  }

  readonly sink = (bytes: Uint8Array): void => {
    const before = this.count
    this.text += td.decode(bytes)
    for (let n = before + 1; n <= this.count; n++) this.#onLine?.(n)
    const count = this.count
    const done = this.#waiters.filter((w) => w.n <= count)
    this.#waiters = this.#waiters.filter((w) => w.n > count)
    for (const w of done) w.resolve()
  }

  lines(n: number): Promise<void> {
    if (this.count >= n) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push({ n, resolve }))
  }
}

/** A sink that keeps every entry with its frame. */
export class EntryLog implements EntrySink {
  readonly entries: LogEntry[] = []
  readonly frames: Uint8Array[] = []

  append(entry: LogEntry, frame?: Uint8Array): void {
    this.entries.push(entry)
    this.frames.push(frame ?? encodeEntry(entry))
  }
}

export interface GuestIo {
  stdin?: InputSource
  stdout?: (bytes: Uint8Array) => void
  time?: TimeSource
}

/** The kv guest's start: /data is the virtual disk's empty /0. */
export const KV_START: StartParams = {
  args: ['kv', '/data'],
  env: [],
  preopens: [{ guestPath: '/data', diskPath: '/0' }],
}

/**
 * Boots a guest on `tape`: a recording tape takes the start parameters and an empty
 * disk live, a replaying one answers them from its log (waiting for them if need be).
 */
export async function bootGuest(
  image: Uint8Array,
  tape: Tape,
  io: GuestIo,
  start: StartParams = KV_START,
): Promise<{ machine: WasmMachine; host: WasiHost }> {
  const params = decodeStart(await tape.input('start', () => encodeStart(start)))
  const disk = VirtualDisk.deserialize(
    await tape.input('disk', () => {
      const fresh = new VirtualDisk()
      fresh.makeDirectory('/0')
      return fresh.serialize()
    }),
  )
  const host = new WasiHost({
    ...params,
    disk,
    tape,
    ...(io.stdin ? { stdin: io.stdin } : {}),
    ...(io.stdout ? { stdout: io.stdout } : {}),
    ...(io.time ? { time: io.time } : {}),
  })
  const machine = await WasmMachine.boot(image, { host, tape }, { pausableImports: PAUSABLE_WASI_IMPORTS })
  return { machine, host }
}

/** A tiny deterministic PRNG (mulberry32), so each case is reproducible from its seed. */
export function prng(seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
  }
}

/** kv requests whose replies depend only on the requests (no STATS). */
export function kvRequests(seed: number, count: number): string[] {
  const rnd = prng(seed)
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    const key = `k${rnd(6)}`
    switch (rnd(6)) {
      case 0:
        out.push(`SET ${key} v${rnd(1000)} seed ${seed}`)
        break
      case 1:
        out.push(`GET ${key}`)
        break
      case 2:
        out.push(`INCR ${key} ${rnd(20) - 5}`)
        break
      case 3:
        out.push(`DEL ${key}`)
        break
      case 4:
        out.push('KEYS')
        break
      default:
        out.push(`SET ${key} ${rnd(100)}`)
    }
  }
  return out
}

export async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-promote-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A clock a test sets: realtime and monotonic advance by `stepNs` on every read. */
export function steppingTime(realtimeStart: bigint, monotonicStart: bigint, stepNs = 1_000_000n): TimeSource {
  let real = realtimeStart
  let mono = monotonicStart
  return {
    realtime: () => {
      real += stepNs
      return real
    },
    monotonic: () => {
      mono += stepNs
      return mono
    },
  }
}
