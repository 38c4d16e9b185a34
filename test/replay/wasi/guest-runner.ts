/**
 * Test helpers: build fixture guests, run them under node:wasi (the reference)
 * and under our WasiHost on a virtual disk, read directory trees, and small
 * tapes (deterministic, recording, replaying) that exercise the Tape contract.
 */
import { createHash } from 'node:crypto'
import { closeSync, openSync, readFileSync } from 'node:fs'
import {
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { WASI } from 'node:wasi'
import { compileGuest } from '../../../scripts/compile-guest.ts'
import { LiveTape } from '../../../src/replay/live-tape.ts'
import type { CallArg, MaybePromise, Outcome, Tape } from '../../../src/replay/types.ts'
import type { InputSource, WasiImport } from '../../../src/replay/wasi/index.ts'
import { ProcExit, VirtualDisk, WasiHost } from '../../../src/replay/wasi/index.ts'

export const fixturesDir = resolve(import.meta.dirname, '../../fixtures/wasi')
const buildDir = resolve(import.meta.dirname, '../../../.cache/test-wasi')

const loaded = new Map<string, Promise<WebAssembly.Module>>()

/** Compiles (cached) and loads a fixture; the copy is per process, as test files run in parallel. */
export function loadFixture(name: string, flags: string[] = []): Promise<WebAssembly.Module> {
  const key = `${name}${flags.join('').replace(/[^a-z]/gi, '')}`
  let module = loaded.get(key)
  if (module === undefined) {
    const out = join(buildDir, `${key}.${process.pid}.wasm`)
    module = compileGuest(join(fixturesDir, name), out, { flags }).then(async () => {
      const bytes = await readFile(out)
      await rm(out)
      return new WebAssembly.Module(bytes)
    })
    loaded.set(key, module)
  }
  return module
}

/** A scratch directory under the OS temp dir; remove it with `rm(dir, { recursive: true })`. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `understudy-wasi-${prefix}-`))
}

/** Copies a tree keeping symlinks verbatim and hard links as hard links (fs.cp does neither). */
export async function copyTree(from: string, to: string, seen = new Map<string, string>()): Promise<void> {
  await mkdir(to, { recursive: true })
  for (const name of await readdir(from)) {
    const src = join(from, name)
    const dst = join(to, name)
    const st = await lstat(src)
    const key = `${st.dev}:${st.ino}`
    if (st.isDirectory()) await copyTree(src, dst, seen)
    else if (st.isSymbolicLink()) await symlink(await readlink(src), dst)
    else if (seen.has(key)) await link(seen.get(key)!, dst)
    else {
      await writeFile(dst, await readFile(src))
      seen.set(key, dst)
    }
  }
}

/** The seed fixture plus what git cannot hold: an empty directory, symlinks and a hard link. */
export async function makeSeed(): Promise<string> {
  const seed = await tempDir('seed')
  await copyTree(join(fixturesDir, 'seed'), seed)
  await mkdir(join(seed, 'emptydir'))
  await symlink('hello.txt', join(seed, 'link-to-hello'))
  await symlink('../hello.txt', join(seed, 'data', 'link-up'))
  await link(join(seed, 'data', 'numbers.txt'), join(seed, 'data', 'numbers-hard.txt'))
  return seed
}

/** Every entry under `dir`: type, size, link count and content hash (files) or target (symlinks). */
export async function readTree(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name)
    const rel = prefix + name
    const st = await lstat(path)
    if (st.isDirectory()) {
      out[`${rel}/`] = 'dir'
      Object.assign(out, await readTree(path, `${rel}/`))
    } else if (st.isSymbolicLink()) {
      out[rel] = `symlink -> ${await readlink(path)}`
    } else {
      const hash = createHash('sha256')
        .update(await readFile(path))
        .digest('hex')
      out[rel] = `file ${st.size} bytes, nlink ${st.nlink}, sha256 ${hash.slice(0, 16)}`
    }
  }
  return out
}

/** Like readTree, plus modification times: proves a directory was not touched. */
export async function readTreeWithTimes(dir: string): Promise<Record<string, string>> {
  const tree = await readTree(dir)
  for (const key of Object.keys(tree)) {
    const st = await lstat(join(dir, key))
    tree[key] += ` mtime ${st.mtimeMs} mode ${st.mode}`
  }
  return tree
}

export interface RunOptions {
  args: string[]
  env?: [string, string][]
  stdin?: string
}

export interface RunResult {
  stdout: string
  stderr: string
  exitCode: number
}

/** Runs under node:wasi with `/sandbox` preopened on a copy of `seed`; returns the copy too. */
export async function runReference(
  module: WebAssembly.Module,
  seed: string,
  options: RunOptions,
): Promise<RunResult & { dir: string }> {
  const work = await tempDir('ref')
  const dir = join(work, 'sandbox')
  await copyTree(seed, dir)
  await writeFile(join(work, 'stdin'), options.stdin ?? '')
  const fds = {
    stdin: openSync(join(work, 'stdin'), 'r'),
    stdout: openSync(join(work, 'stdout'), 'w'),
    stderr: openSync(join(work, 'stderr'), 'w'),
  }
  let exitCode: number
  try {
    const wasi = new WASI({
      version: 'preview1',
      args: options.args,
      env: Object.fromEntries(options.env ?? []),
      preopens: { '/sandbox': dir },
      returnOnExit: true,
      ...fds,
    })
    const instance = new WebAssembly.Instance(module, wasi.getImportObject() as WebAssembly.Imports)
    exitCode = wasi.start(instance)
  } finally {
    for (const fd of Object.values(fds)) closeSync(fd)
  }
  return {
    stdout: readFileSync(join(work, 'stdout'), 'utf8'),
    stderr: readFileSync(join(work, 'stderr'), 'utf8'),
    exitCode,
    dir,
  }
}

export interface VirtualRun extends RunResult {
  host: WasiHost
  disk: VirtualDisk
}

/** Runs `_start` synchronously under WasiHost (every import must answer without a Promise). */
export async function runVirtual(
  module: WebAssembly.Module,
  seed: string | VirtualDisk,
  options: RunOptions & { tape?: Tape },
): Promise<VirtualRun> {
  const disk = typeof seed === 'string' ? await VirtualDisk.fromHostDir(seed) : seed
  const out = collector()
  const err = collector()
  const host = new WasiHost({
    args: options.args,
    env: options.env ?? [],
    disk,
    preopens: [{ guestPath: '/sandbox', diskPath: '/' }],
    tape: options.tape ?? new LiveTape(),
    stdin: bufferSource(new TextEncoder().encode(options.stdin ?? '')),
    stdout: out.sink,
    stderr: err.sink,
  })
  const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: syncOnly(host.imports) })
  host.setMemory(instance.exports.memory as WebAssembly.Memory)
  const exitCode = runStart(instance)
  return { stdout: out.text(), stderr: err.text(), exitCode, host, disk }
}

export function runStart(instance: WebAssembly.Instance): number {
  try {
    ;(instance.exports._start as () => void)()
    return 0
  } catch (e) {
    if (e instanceof ProcExit) return e.exitCode
    throw e
  }
}

export function collector(): { sink: (bytes: Uint8Array) => void; text: () => string } {
  const chunks: Uint8Array[] = []
  return {
    sink: (bytes) => chunks.push(bytes),
    text: () => Buffer.concat(chunks).toString('utf8'),
  }
}

/** Fails loudly if an import answers with a Promise (a synchronous run could not wait for it). */
export function syncOnly(imports: Record<string, WasiImport>): Record<string, WasiImport> {
  const wrapped: Record<string, WasiImport> = {}
  for (const [name, fn] of Object.entries(imports)) {
    wrapped[name] = (...args) => {
      const result = fn(...args)
      if (typeof result !== 'number')
        throw new Error(`${name} returned ${typeof result} on the synchronous path`)
      return result
    }
  }
  return wrapped
}

/** A stdin that answers synchronously, `chunk` bytes at a time, then EOF. */
export function bufferSource(bytes: Uint8Array, chunk = 7): InputSource & { readonly offset: number } {
  let offset = 0
  return {
    get offset() {
      return offset
    },
    read(max: number) {
      const n = Math.min(max, chunk, bytes.length - offset)
      const out = bytes.slice(offset, offset + n)
      offset += n
      return out
    },
  }
}

export interface TapeCall {
  fn: string
  args: CallArg[]
  result: Uint8Array
}

/**
 * Answers clocks and random from counters (so two runs see identical values)
 * and runs everything else live. Outputs are kept.
 */
export class ScriptedTape implements Tape {
  readonly mode = 'record' as const
  readonly calls: TapeCall[] = []
  #clock = 1_700_000_000_000_000_000n
  #random = 0x2545f491

  get position(): number {
    return this.calls.length
  }

  call(fn: string, args: readonly CallArg[], live: () => MaybePromise<Uint8Array>): MaybePromise<Uint8Array> {
    let result: MaybePromise<Uint8Array>
    if (fn === 'clock_time_get') {
      this.#clock += 1_000_000n
      result = u64Result(this.#clock)
    } else if (fn === 'random_get') {
      result = new Uint8Array(2 + Number(args[0]))
      for (let i = 2; i < result.length; i++) {
        this.#random = (Math.imul(this.#random, 1103515245) + 12345) >>> 0
        result[i] = this.#random >>> 24
      }
    } else {
      result = live()
    }
    if (result instanceof Promise) throw new Error('ScriptedTape is synchronous only')
    this.calls.push({ fn, args: [...args], result })
    return result
  }

  input(_name: string, live: () => Uint8Array): Uint8Array {
    return live()
  }

  output(): void {}

  exit(): void {}
}

/** Runs live and keeps every call's result, awaiting Promises. */
export class RecordingTape implements Tape {
  readonly mode = 'record' as const
  readonly calls: TapeCall[] = []
  readonly outputs: { stream: number; bytes: Uint8Array }[] = []

  get position(): number {
    return this.calls.length
  }

  call(fn: string, args: readonly CallArg[], live: () => MaybePromise<Uint8Array>): MaybePromise<Uint8Array> {
    const keep = (result: Uint8Array) => {
      this.calls.push({ fn, args: [...args], result: result.slice() })
      return result
    }
    const result = live()
    return result instanceof Promise ? result.then(keep) : keep(result)
  }

  input(_name: string, live: () => Uint8Array): Uint8Array {
    return live()
  }

  output(stream: number, bytes: Uint8Array): void {
    this.outputs.push({ stream, bytes: bytes.slice() })
  }

  exit(_outcome: Outcome, _digest: Uint8Array): void {}
}

/** Answers from recorded calls and never runs anything live; a different question throws. */
export class ReplayTape implements Tape {
  readonly mode = 'replay' as const
  readonly #calls: readonly TapeCall[]
  #next = 0

  constructor(calls: readonly TapeCall[]) {
    this.#calls = calls
  }

  get position(): number {
    return this.#next
  }

  get remaining(): number {
    return this.#calls.length - this.#next
  }

  call(fn: string, args: readonly CallArg[]): Uint8Array {
    const entry = this.#calls[this.#next]
    const asked = `${fn}(${args.join(', ')})`
    if (entry === undefined) throw new Error(`replay ran past the log at ${asked}`)
    const recorded = `${entry.fn}(${entry.args.join(', ')})`
    if (recorded !== asked)
      throw new Error(`replay diverged at ${this.#next}: recorded ${recorded}, asked ${asked}`)
    this.#next++
    return entry.result
  }

  input(): Uint8Array {
    throw new Error('no inputs were recorded')
  }

  output(): void {}

  exit(): void {}
}

export function u64Result(value: bigint): Uint8Array {
  const out = new Uint8Array(10)
  new DataView(out.buffer).setBigUint64(2, value, true)
  return out
}

export async function removeAll(...dirs: string[]): Promise<void> {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
}
