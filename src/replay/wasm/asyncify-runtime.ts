/**
 * Runs an instrumented module with Asyncify: a pausable import that returns a
 * Promise unwinds the guest's stack into Asyncify's memory; the runtime awaits
 * the Promise (Node's event loop keeps running), rewinds, and hands the value
 * back when the guest re-enters the import.
 *
 * A pause request stops the guest at its next pausable import, before the
 * import runs, or at once if it is blocked in one (the wait is abandoned). The
 * paused state is plain data (memory, Asyncify's memory, globals), so it can
 * be checkpointed and rewound in another process, where the import runs afresh.
 */
import { UnderstudyError } from '../../errors/index.ts'
import type { Outcome } from '../types.ts'
import type { GlobalSlot, ValueType } from './instrument.ts'
import { type MemoryImage, PAGE_BYTES, writeMemory } from './memory-image.ts'
import type { LoadedModule } from './module-loader.ts'

/** A host function as the guest calls it (i32 as number, i64 as bigint). */
// biome-ignore lint/suspicious/noExplicitAny: host functions have many signatures.
export type HostFunction = (...args: any[]) => unknown

/** Import functions by import module, then name. */
export type ImportTable = Readonly<Record<string, Readonly<Record<string, HostFunction>>>>

/** Where a paused guest stopped: before `module.name(args)`, which has not run. */
export interface PausePoint {
  module: string
  name: string
  args: readonly (number | bigint)[]
}

export type RuntimeResult = { kind: 'paused'; at: PausePoint } | { kind: 'ended'; outcome: Outcome }

export type RuntimeStatus = 'ready' | 'running' | 'paused' | 'ended' | 'failed'

export interface GlobalValue {
  name: string
  type: ValueType
  value: number | bigint
}

/** The state of a paused guest: views on its live memories, its globals, where it stopped. */
export interface PausedState {
  memory: Uint8Array
  asyncifyMemory: Uint8Array
  globals: GlobalValue[]
  pausedAt: PausePoint
}

/** A paused state as a checkpoint holds it. */
export interface SavedState {
  /** The memory image, or a loader that reads it straight into the new memory. */
  memory: MemoryImage | MemoryLoader
  asyncifyMemory: MemoryImage
  globals: readonly GlobalValue[]
  pausedAt: PausePoint
}

export interface MemoryLoader {
  byteLength: number
  /** Fills `target` (byteLength bytes); below `cleanBelow` pages it leaves out must be zeroed. */
  load(target: Uint8Array, cleanBelow: number): Promise<void>
}

export interface RuntimeOptions {
  loaded: LoadedModule
  imports: ImportTable
  /** Imports, as "module.name", that may return a Promise or be paused at. */
  pausable: ReadonlySet<string>
  /** The exit status a host error stands for (proc_exit), or undefined. */
  exitOf?: (err: unknown) => number | undefined
  /** Called when a pause abandons a blocked import's pending Promise. */
  onAbandon?: (at: PausePoint) => void
}

/** The guest's deterministic stack budget ran out (thrown by the stack_overflow import). */
export class StackBudgetExceeded extends Error {}

/** A pausable import was abandoned, or a non-pausable one tried to block. */
export class AsyncifyError extends UnderstudyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_ASYNCIFY', message, options)
  }
}

interface AsyncifyExports {
  asyncify_start_unwind(ptr: number): void
  asyncify_stop_unwind(): void
  asyncify_start_rewind(ptr: number): void
  asyncify_stop_rewind(): void
}

const DATA = 0 // Asyncify's {current, end} header, at the start of its own memory
const DATA_START = 8

type Pending =
  | { kind: 'pause'; at: PausePoint }
  | { kind: 'wait'; at: PausePoint; promise: PromiseLike<unknown> }

type Resume = { kind: 'value'; value: unknown } | { kind: 'fresh' }

type Settled = { kind: 'value'; value: unknown } | { kind: 'error'; error: unknown } | { kind: 'paused' }

export class AsyncifyRuntime {
  readonly instance: WebAssembly.Instance
  readonly memory: WebAssembly.Memory
  readonly asyncifyMemory: WebAssembly.Memory
  #status: RuntimeStatus = 'ready'
  #outcome: Outcome | undefined
  readonly #loaded: LoadedModule
  readonly #exports: AsyncifyExports
  readonly #entry: () => void
  readonly #exitOf: (err: unknown) => number | undefined
  readonly #onAbandon: ((at: PausePoint) => void) | undefined
  #pauseRequested = false
  #pending: Pending | undefined
  #resume: Resume | undefined
  #pausedAt: PausePoint | undefined
  #rewinding = false
  #unwinding = false
  #wake: (() => void) | undefined

  private constructor(instance: WebAssembly.Instance, options: RuntimeOptions) {
    this.instance = instance
    this.#loaded = options.loaded
    const exports = instance.exports as Record<string, unknown>
    this.memory = exports.memory as WebAssembly.Memory
    this.asyncifyMemory = exports[options.loaded.meta.asyncifyMemory] as WebAssembly.Memory
    this.#exports = exports as unknown as AsyncifyExports
    this.#entry = exports[options.loaded.entry] as () => void
    this.#exitOf = options.exitOf ?? defaultExitOf
    this.#onAbandon = options.onAbandon
  }

  /** Instantiates the module; imports it declares but `imports` lacks fail here. */
  static async create(options: RuntimeOptions): Promise<AsyncifyRuntime> {
    let runtime: AsyncifyRuntime | undefined
    const self = () => {
      if (runtime === undefined) throw new AsyncifyError('an import was called during instantiation')
      return runtime
    }
    const imports: Record<string, Record<string, HostFunction>> = {}
    for (const sig of options.loaded.meta.imports) {
      const fn = options.imports[sig.module]?.[sig.name]
      if (fn === undefined) {
        throw new AsyncifyError(`the host provides no ${sig.module}.${sig.name}, which the guest imports`)
      }
      const key = `${sig.module}.${sig.name}`
      const dummy = sig.result === 'i64' ? 0n : 0
      const table = imports[sig.module] ?? {}
      imports[sig.module] = table
      table[sig.name] = options.pausable.has(key)
        ? (...args: unknown[]) => self().#callPausable(sig.module, sig.name, fn, args, dummy)
        : (...args: unknown[]) => {
            const result = fn(...args)
            if (isThenable(result)) {
              throw new AsyncifyError(
                `${key} returned a Promise, but it is not a pausable import: declare it pausable to let the guest block in it`,
              )
            }
            return result
          }
    }
    const instance = await WebAssembly.instantiate(options.loaded.module, imports)
    runtime = new AsyncifyRuntime(instance, options)
    const header = new Int32Array(runtime.asyncifyMemory.buffer, DATA, 2)
    header[0] = DATA_START
    header[1] = runtime.asyncifyMemory.buffer.byteLength
    return runtime
  }

  get status(): RuntimeStatus {
    return this.#status
  }

  get outcome(): Outcome | undefined {
    return this.#outcome
  }

  get pausedAt(): PausePoint | undefined {
    return this.#pausedAt
  }

  /** Whether the guest is waiting for a pausable import's Promise. */
  get blocked(): boolean {
    return this.#wake !== undefined
  }

  /**
   * Runs (or resumes) the guest until it ends or pauses. Host errors that are
   * not outcomes (a divergence, a bug) reject, and the runtime is then failed.
   */
  async run(): Promise<RuntimeResult> {
    if (this.#status !== 'ready' && this.#status !== 'paused') {
      throw new AsyncifyError(`cannot run a guest that is ${this.#status}`)
    }
    let rewind = this.#status === 'paused'
    this.#status = 'running'
    this.#pausedAt = undefined
    try {
      for (;;) {
        try {
          if (rewind) {
            this.#rewinding = true
            this.#exports.asyncify_start_rewind(DATA)
          }
          this.#entry()
        } catch (err) {
          if (this.#unwinding) {
            throw new AsyncifyError(
              `the guest's stack did not fit in Asyncify's ${this.asyncifyMemory.buffer.byteLength} bytes while pausing: raise asyncifyStackBytes`,
              { cause: err },
            )
          }
          return this.#end(this.#classify(err))
        }
        const pending = this.#pending
        if (pending === undefined) {
          if (this.#rewinding)
            throw new AsyncifyError('the guest finished rewinding without reaching its import')
          return this.#end({ kind: 'exit', code: 0 })
        }
        this.#pending = undefined
        this.#exports.asyncify_stop_unwind()
        this.#unwinding = false
        if (pending.kind === 'pause') return this.#pause(pending.at)
        const settled = await this.#settle(pending.promise)
        if (settled.kind === 'paused') {
          this.#onAbandon?.(pending.at)
          return this.#pause(pending.at)
        }
        if (settled.kind === 'error') return this.#end(this.#classify(settled.error))
        this.#resume = { kind: 'value', value: settled.value }
        rewind = true
      }
    } catch (err) {
      this.#status = 'failed'
      throw err
    }
  }

  /**
   * Pause at the next pausable import, before it runs; or now, if the guest
   * is blocked in one (its pending Promise is then abandoned). Before the
   * first run, the guest pauses at its first pausable import.
   */
  requestPause() {
    if (this.#status !== 'running' && this.#status !== 'ready') return
    if (this.#wake !== undefined) this.#wake()
    else this.#pauseRequested = true
  }

  /** The paused guest's state. Views on live memory: copy them before resuming. */
  pausedState(): PausedState {
    if (this.#status !== 'paused' || this.#pausedAt === undefined) {
      throw new AsyncifyError(`the guest is ${this.#status}, not paused`)
    }
    return {
      memory: new Uint8Array(this.memory.buffer),
      asyncifyMemory: new Uint8Array(this.asyncifyMemory.buffer),
      globals: this.globals(),
      pausedAt: this.#pausedAt,
    }
  }

  /** Puts a fresh instance into a paused state taken elsewhere; `run()` then rewinds into it. */
  async restore(state: SavedState) {
    if (this.#status !== 'ready')
      throw new AsyncifyError(`cannot restore into a guest that is ${this.#status}`)
    const initial = this.memory.buffer.byteLength
    const size = state.memory.byteLength
    if (size < initial) {
      throw new AsyncifyError(`the saved memory (${size} bytes) is smaller than the module's initial memory`)
    }
    if (size > initial) this.memory.grow((size - initial) / PAGE_BYTES)
    const target = new Uint8Array(this.memory.buffer)
    // Grown pages are fresh zeros: only the initial ones (data segments) need clearing.
    if ('pages' in state.memory) writeMemory(target, state.memory, initial)
    else await state.memory.load(target, initial)
    if (state.asyncifyMemory.byteLength !== this.asyncifyMemory.buffer.byteLength) {
      throw new AsyncifyError(
        `the saved Asyncify stack is ${state.asyncifyMemory.byteLength} bytes, this module's is ${this.asyncifyMemory.buffer.byteLength}`,
      )
    }
    writeMemory(new Uint8Array(this.asyncifyMemory.buffer), state.asyncifyMemory)
    this.#loadGlobals(state.globals)
    this.#resume = { kind: 'fresh' }
    this.#pausedAt = state.pausedAt
    this.#status = 'paused'
  }

  /** Every exported mutable global, in the instrumentation's order. */
  globals(): GlobalValue[] {
    const exports = this.instance.exports as Record<string, WebAssembly.Global>
    return this.#loaded.meta.globals.map((slot: GlobalSlot) => {
      const g = exports[slot.export]
      if (g === undefined) throw new AsyncifyError(`global export ${slot.export} is missing`)
      return { name: slot.export, type: slot.type, value: g.value as number | bigint }
    })
  }

  #loadGlobals(values: readonly GlobalValue[]) {
    const exports = this.instance.exports as Record<string, WebAssembly.Global>
    const slots = this.#loaded.meta.globals
    if (values.length !== slots.length) {
      throw new AsyncifyError(`expected ${slots.length} globals, got ${values.length}`)
    }
    slots.forEach((slot, i) => {
      const v = values[i]
      const g = exports[slot.export]
      if (v === undefined || g === undefined || v.name !== slot.export || v.type !== slot.type) {
        throw new AsyncifyError(`global ${i} does not match: expected ${slot.export} (${slot.type})`)
      }
      g.value = v.value
    })
  }

  #callPausable(module: string, name: string, fn: HostFunction, args: unknown[], dummy: number | bigint) {
    if (this.#rewinding) {
      this.#exports.asyncify_stop_rewind()
      this.#rewinding = false
      const resume = this.#resume
      this.#resume = undefined
      if (resume?.kind === 'value') return resume.value
      // Paused before this call ran: run it now.
    }
    const at = { module, name, args: args as (number | bigint)[] }
    if (this.#pauseRequested) {
      this.#pauseRequested = false
      this.#startUnwind({ kind: 'pause', at })
      return dummy
    }
    const result = fn(...args)
    if (isThenable(result)) {
      this.#startUnwind({ kind: 'wait', at, promise: result })
      return dummy
    }
    return result
  }

  #startUnwind(pending: Pending) {
    const header = new Int32Array(this.asyncifyMemory.buffer, DATA, 2)
    header[0] = DATA_START
    header[1] = this.asyncifyMemory.buffer.byteLength
    this.#pending = pending
    this.#unwinding = true
    this.#exports.asyncify_start_unwind(DATA)
  }

  #settle(promise: PromiseLike<unknown>): Promise<Settled> {
    return new Promise<Settled>((resolve) => {
      this.#wake = () => resolve({ kind: 'paused' })
      if (this.#pauseRequested) {
        this.#pauseRequested = false
        resolve({ kind: 'paused' })
      }
      promise.then(
        (value) => resolve({ kind: 'value', value }),
        (error: unknown) => resolve({ kind: 'error', error }),
      )
    }).finally(() => {
      this.#wake = undefined
    })
  }

  #pause(at: PausePoint): RuntimeResult {
    this.#resume = { kind: 'fresh' }
    this.#pausedAt = at
    this.#status = 'paused'
    return { kind: 'paused', at }
  }

  #end(outcome: Outcome): RuntimeResult {
    this.#outcome = outcome
    this.#status = 'ended'
    return { kind: 'ended', outcome }
  }

  /** The outcome an error stands for; anything else is a host failure and is rethrown. */
  #classify(err: unknown): Outcome {
    const code = this.#exitOf(err)
    if (code !== undefined) return { kind: 'exit', code }
    if (err instanceof StackBudgetExceeded) return { kind: 'stack-overflow' }
    // V8's own limit: the budget should make it unreachable, but it is the same outcome.
    if (err instanceof RangeError && err.message.includes('Maximum call stack size exceeded')) {
      return { kind: 'stack-overflow' }
    }
    if (err instanceof WebAssembly.RuntimeError) return { kind: 'trap', message: err.message }
    throw err
  }
}

/**
 * proc_exit, by shape: an Error named (or constructed as) ProcExit carrying
 * its status as a numeric `exitCode` (src/replay/wasi's ProcExit) or `code`.
 */
export function defaultExitOf(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined
  if (err.name !== 'ProcExit' && err.constructor.name !== 'ProcExit') return undefined
  const { exitCode, code } = err as Error & { exitCode?: unknown; code?: unknown }
  if (typeof exitCode === 'number') return exitCode
  return typeof code === 'number' ? code : undefined
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  )
}
