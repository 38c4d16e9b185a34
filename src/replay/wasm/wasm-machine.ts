/**
 * The WebAssembly driver: a checked, instrumented guest run by the Asyncify
 * runtime, with a host (the WASI imports) and a tape (recorder or replayer).
 * The machine itself puts one thing on the tape: memory.grow results.
 */
import { CheckpointError, DivergenceError, HostLimitError } from '../../errors/index.ts'
import type {
  CheckpointSummary,
  Driver,
  DriverFactory,
  DriverRunResult,
  DriverStatus,
  SavedComponents,
} from '../driver.ts'
import type { Outcome, Tape } from '../types.ts'
import {
  AsyncifyRuntime,
  type HostFunction,
  type MemoryLoader,
  type PausePoint,
  type RuntimeResult,
  StackBudgetExceeded,
} from './asyncify-runtime.ts'
import { type Checkpoint, type OpenedCheckpoint, openCheckpoint, writeCheckpoint } from './checkpoint.ts'
import type { InstrumentOptions } from './instrument.ts'
import { MEMORY_GROW_IMPORT, STACK_OVERFLOW_IMPORT } from './instrument.ts'
import { captureMemory, PAGE_BYTES } from './memory-image.ts'
import { type LoadedModule, loadModule } from './module-loader.ts'
import { stateDigest } from './state-digest.ts'

/** What the machine needs from a host: WASI's imports, the memory they work on, and its state. */
export interface HostImports {
  /** Import functions of the host's namespace (`wasi_snapshot_preview1`), by name. */
  readonly imports: Readonly<Record<string, HostFunction>>
  /** Called once the guest is instantiated (and again never: the Memory object stays, its buffer may grow). */
  setMemory(memory: WebAssembly.Memory): void
  /** The host's state as bytes (fd table, virtual disk, clock offsets), for checkpoints and digests. */
  snapshot(): Uint8Array
  /**
   * A pause abandoned a blocked call (e.g. an fd_read waiting for stdin): its
   * Promise will be ignored and the call will run again after resume or
   * restore, so it must not consume input or record an entry.
   */
  abandon?(call: string): void
}

export interface WasmComponents {
  host: HostImports
  tape: Tape
}

export interface WasmMachineOptions {
  /** Import names (in `namespace`) the guest may use; default: every function the host provides. */
  supportedImports?: readonly string[]
  /** Import names (in `namespace`) that may block (return a Promise) and at which the guest can pause. */
  pausableImports: readonly string[]
  /** The host's import module; default `wasi_snapshot_preview1`. */
  namespace?: string
  /** The exported function to start at; default `_start`. */
  entry?: string
  /** Instrumented module cache; default `.cache/wasm` in the project, null for none. */
  cacheDir?: string | null
  instrument?: Partial<Omit<InstrumentOptions, 'pausableImports'>>
  /** The exit status an error thrown by the host stands for (default: a ProcExit with a numeric `exitCode` or `code`). */
  exitOf?: (err: unknown) => number | undefined
}

export class WasmMachine implements Driver {
  readonly kind = 'wasm'
  readonly loaded: LoadedModule
  readonly host: HostImports
  readonly tape: Tape
  readonly #runtime: AsyncifyRuntime

  private constructor(loaded: LoadedModule, runtime: AsyncifyRuntime, components: WasmComponents) {
    this.loaded = loaded
    this.#runtime = runtime
    this.host = components.host
    this.tape = components.tape
  }

  /** Loads (checks, instruments or takes from the cache) and instantiates `image`. */
  static async boot(
    image: Uint8Array,
    components: WasmComponents,
    options: WasmMachineOptions,
  ): Promise<WasmMachine> {
    const loaded = await load(image, components.host, options)
    return WasmMachine.#instantiate(loaded, components, options)
  }

  /**
   * A machine paused where `checkpoint` was taken. `components` builds the host
   * and tape from the saved blobs (e.g. `WasiHost.fromSnapshot(saved.host, io)`).
   */
  static async restore(
    image: Uint8Array,
    checkpoint: Checkpoint | string,
    components: (saved: SavedComponents) => WasmComponents | Promise<WasmComponents>,
    options: WasmMachineOptions,
  ): Promise<WasmMachine> {
    // From a file, memory pages are read straight into the new instance's memory.
    const cp: Checkpoint | OpenedCheckpoint =
      typeof checkpoint === 'string' ? await openCheckpoint(checkpoint) : checkpoint
    try {
      const built = await components({ host: cp.host, tape: cp.tape })
      const loaded = await load(image, built.host, options)
      checkCompatible(cp, loaded)
      const machine = await WasmMachine.#instantiate(loaded, built, options)
      const memory = 'loadMemory' in cp ? loaderOf(cp) : cp.memory
      await machine.#runtime.restore({ ...cp, memory })
      // Also proves the host came back whole from its snapshot.
      if (!Buffer.from(machine.stateDigest()).equals(cp.digest)) {
        throw new CheckpointError(
          'the restored state does not match the checkpoint digest: the host snapshot did not restore the same host state',
        )
      }
      return machine
    } finally {
      if ('close' in cp) await cp.close()
    }
  }

  static async #instantiate(
    loaded: LoadedModule,
    components: WasmComponents,
    options: WasmMachineOptions,
  ): Promise<WasmMachine> {
    const namespace = options.namespace ?? 'wasi_snapshot_preview1'
    const { host, tape } = components
    let memory: WebAssembly.Memory | undefined
    const grow = new MemoryGrowth(tape, () => {
      if (memory === undefined) throw new Error('memory.grow before instantiation')
      return memory
    })
    const runtime = await AsyncifyRuntime.create({
      loaded,
      imports: {
        [namespace]: host.imports,
        [MEMORY_GROW_IMPORT.module]: {
          [MEMORY_GROW_IMPORT.name]: (pages: number) => grow.grow(pages),
          [STACK_OVERFLOW_IMPORT.name]: () => {
            throw new StackBudgetExceeded('the guest exceeded its stack budget')
          },
        },
      },
      pausable: new Set([
        ...options.pausableImports.map((n) => `${namespace}.${n}`),
        `${MEMORY_GROW_IMPORT.module}.${MEMORY_GROW_IMPORT.name}`,
      ]),
      ...(options.exitOf === undefined ? {} : { exitOf: options.exitOf }),
      onAbandon: (at) => host.abandon?.(`${at.module}.${at.name}`),
    })
    memory = runtime.memory
    host.setMemory(runtime.memory)
    return new WasmMachine(loaded, runtime, components)
  }

  get status(): DriverStatus {
    return this.#runtime.status
  }

  get outcome(): Outcome | undefined {
    return this.#runtime.outcome
  }

  get memory(): WebAssembly.Memory {
    return this.#runtime.memory
  }

  /** Where the guest is paused, if it is. */
  get pausedAt(): PausePoint | undefined {
    return this.#runtime.pausedAt
  }

  /** Whether the guest is waiting in a pausable import. */
  get blocked(): boolean {
    return this.#runtime.blocked
  }

  async run(options: { signal?: AbortSignal } = {}): Promise<DriverRunResult> {
    const { signal } = options
    const onAbort = () => this.requestPause()
    signal?.addEventListener('abort', onAbort)
    let result: RuntimeResult
    try {
      if (signal?.aborted) this.requestPause()
      result = await this.#runtime.run()
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    if (result.kind === 'paused') {
      return { kind: 'paused', at: { call: `${result.at.module}.${result.at.name}`, args: result.at.args } }
    }
    const digest = this.stateDigest()
    await this.tape.exit(result.outcome, digest)
    return { kind: 'ended', outcome: result.outcome, digest }
  }

  requestPause() {
    this.#runtime.requestPause()
  }

  stateDigest(): Uint8Array {
    return stateDigest({
      memory: new Uint8Array(this.#runtime.memory.buffer),
      globals: this.#runtime.globals(),
      host: this.host.snapshot(),
    })
  }

  /** While paused: the machine's state as a Checkpoint (memory pages copied). */
  captureCheckpoint(tape: Uint8Array): Checkpoint {
    return this.#capture(tape, true)
  }

  async saveCheckpoint(path: string, tape: Uint8Array): Promise<CheckpointSummary> {
    // Written straight from the paused guest's memory: nothing runs until the write is done.
    const cp = this.#capture(tape, false)
    const { bytes } = await writeCheckpoint(path, cp)
    return { path, bytes, digest: cp.digest }
  }

  #capture(tape: Uint8Array, copy: boolean): Checkpoint {
    const state = this.#runtime.pausedState()
    const host = this.host.snapshot()
    return {
      moduleHash: this.loaded.hash,
      instrumentedHash: this.loaded.instrumentedHash,
      tools: this.loaded.tools,
      entry: this.loaded.entry,
      pausedAt: state.pausedAt,
      digest: stateDigest({ memory: state.memory, globals: state.globals, host }),
      memory: captureMemory(state.memory, { copy }),
      asyncifyMemory: captureMemory(state.asyncifyMemory),
      globals: state.globals,
      host,
      tape: tape.slice(),
    }
  }
}

/** A DriverFactory for wasm guests, with fixed options (pausable imports, cache, ...). */
export class WasmDriver implements DriverFactory<WasmComponents> {
  readonly kind = 'wasm'
  readonly options: WasmMachineOptions

  constructor(options: WasmMachineOptions) {
    this.options = options
  }

  boot(image: Uint8Array, components: WasmComponents): Promise<WasmMachine> {
    return WasmMachine.boot(image, components, this.options)
  }

  restore(
    image: Uint8Array,
    checkpointPath: string,
    components: (saved: SavedComponents) => WasmComponents | Promise<WasmComponents>,
  ): Promise<WasmMachine> {
    return WasmMachine.restore(image, checkpointPath, components, this.options)
  }
}

function loaderOf(cp: OpenedCheckpoint): MemoryLoader {
  return { byteLength: cp.memory.byteLength, load: (target, cleanBelow) => cp.loadMemory(target, cleanBelow) }
}

function checkCompatible(cp: Checkpoint | OpenedCheckpoint, loaded: LoadedModule) {
  if (cp.moduleHash !== loaded.hash) {
    throw new CheckpointError(
      `the checkpoint is of module ${cp.moduleHash.slice(0, 16)}…, not of this module (${loaded.hash.slice(0, 16)}…)`,
    )
  }
  if (cp.instrumentedHash !== loaded.instrumentedHash) {
    const then = cp.tools
    const now = loaded.tools
    throw new CheckpointError(
      'the checkpoint was taken with a differently instrumented module ' +
        `(then: binaryen ${then.binaryen}, instrumentation v${then.instrumentation}; ` +
        `now: binaryen ${now.binaryen}, instrumentation v${now.instrumentation}; or other instrumentation options): ` +
        'restore it with the same understudy version and options',
    )
  }
  if (cp.entry !== loaded.entry) {
    throw new CheckpointError(`the checkpoint was taken running "${cp.entry}", not "${loaded.entry}"`)
  }
}

function load(image: Uint8Array, host: HostImports, options: WasmMachineOptions): Promise<LoadedModule> {
  const namespace = options.namespace ?? 'wasi_snapshot_preview1'
  return loadModule(image, {
    supportedImports: { [namespace]: options.supportedImports ?? Object.keys(host.imports) },
    pausableImports: options.pausableImports.map((n) => `${namespace}.${n}`),
    ...(options.entry === undefined ? {} : { entry: options.entry }),
    ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
    ...(options.instrument === undefined ? {} : { instrument: options.instrument }),
  })
}

/**
 * memory.grow through the tape: recorded live, forced on replay (grow to the
 * recorded size, or return -1 without growing), so a replica's memory never
 * depends on its own host's limits.
 */
class MemoryGrowth {
  readonly #tape: Tape
  readonly #memory: () => WebAssembly.Memory

  constructor(tape: Tape, memory: () => WebAssembly.Memory) {
    this.#tape = tape
    this.#memory = memory
  }

  grow(pages: number): number | Promise<number> {
    const delta = pages >>> 0
    // Whether this call ran live, not the tape's mode: a promotable tape may switch to
    // recording between answering from the log and this result being applied.
    let grewLive = false
    const result = this.#tape.call('memory.grow', [delta], () => {
      grewLive = true
      return i32Bytes(this.#growLive(delta))
    })
    return isPromiseLike(result)
      ? Promise.resolve(result).then((bytes) => this.#apply(delta, bytes, grewLive))
      : this.#apply(delta, result, grewLive)
  }

  #growLive(delta: number): number {
    try {
      return this.#memory().grow(delta)
    } catch (err) {
      if (err instanceof RangeError) return -1
      throw err
    }
  }

  #apply(delta: number, bytes: Uint8Array, grewLive: boolean): number {
    if (bytes.byteLength !== 4)
      throw new DivergenceError(
        this.#tape.position - 1,
        '4-byte memory.grow result',
        `${bytes.byteLength} bytes`,
      )
    const recorded = new DataView(bytes.buffer, bytes.byteOffset, 4).getInt32(0, true)
    // Live: the call already grew the memory.
    if (grewLive || recorded === -1) return recorded
    const memory = this.#memory()
    const pagesNow = memory.buffer.byteLength / PAGE_BYTES
    if (pagesNow !== recorded) {
      throw new DivergenceError(
        this.#tape.position - 1,
        `memory.grow(${delta}) from ${recorded} pages`,
        `memory.grow(${delta}) from ${pagesNow} pages`,
      )
    }
    try {
      memory.grow(delta)
    } catch (err) {
      throw new HostLimitError(
        `the recording grew memory from ${recorded} by ${delta} pages, but this host cannot: ${(err as Error).message}`,
        { cause: err },
      )
    }
    return recorded
  }
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === 'function'
}

function i32Bytes(value: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setInt32(0, value, true)
  return out
}
