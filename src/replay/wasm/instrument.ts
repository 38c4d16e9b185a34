/**
 * Turns a checked guest module into the one the machine runs:
 *
 *   1. NaN canonicalization where float bits can be observed (nan-canonicalization.ts).
 *   2. memory.grow goes through the import `understudy.memory_grow`, so its result
 *      is recorded on the tape and forced on replay.
 *   3. Every mutable global is exported, so checkpoints and digests see it.
 *   4. Asyncify (binaryen's pass), with its stack in a second memory, so a guest
 *      blocked in a pausable import unwinds into data and can be rewound later,
 *      in this process or another.
 *   5. A deterministic stack budget (call-depth.ts).
 *
 * Runs once per module hash and instrumentation key (module-loader.ts caches it).
 */
import binaryen from 'binaryen'
import { ir } from './binaryen-ir.ts'
import { addCallDepthLimit, STACK_USED_GLOBAL } from './call-depth.ts'
import { walkExpression } from './expression-walker.ts'
import { EMIT_FEATURES, RESERVED_IMPORT_MODULE } from './module-checks.ts'
import { NAN_HELPERS, nanCanonicalizer } from './nan-canonicalization.ts'
import { INSTRUMENTATION_VERSION } from './tool-versions.ts'

export interface InstrumentOptions {
  /** Imports, as "module.name", inside which the guest may block or be paused. */
  pausableImports: readonly string[]
  /** Size of Asyncify's stack (its own memory): the deepest unwound stack it can hold. */
  asyncifyStackBytes: number
  /** The deterministic stack budget, in estimated bytes of native stack. */
  stackBudget: number
  /**
   * Asyncify assumes indirect calls never pause. Faster, but wrong for guests
   * that reach a pausable import through a function pointer (wasi-libc's stdio
   * does, Rust's `dyn Write` does): off unless the guest is known not to.
   */
  ignoreIndirect: boolean
}

export const DEFAULT_INSTRUMENT_OPTIONS: Omit<InstrumentOptions, 'pausableImports'> = {
  asyncifyStackBytes: 1024 * 1024,
  stackBudget: 640 * 1024,
  ignoreIndirect: false,
}

export type ValueType = 'i32' | 'i64' | 'f32' | 'f64'

/** A mutable global as the instrumented module exports it. */
export interface GlobalSlot {
  export: string
  type: ValueType
}

export interface ImportSignature {
  module: string
  name: string
  result: ValueType | 'none'
}

/** What the runtime needs to know about an instrumented module (cached beside it). */
export interface InstrumentationMeta {
  version: number
  options: InstrumentOptions
  /** In checkpoint and digest order. */
  globals: GlobalSlot[]
  imports: ImportSignature[]
  asyncifyMemory: string
  stats: {
    functions: number
    nanScalar: number
    nanVector: number
    memoryGrow: number
    stackCounted: number
    ms: { transform: number; asyncify: number; stack: number; emit: number }
  }
}

export interface InstrumentedModule {
  binary: Uint8Array
  meta: InstrumentationMeta
}

export const MEMORY_GROW_IMPORT = { module: RESERVED_IMPORT_MODULE, name: 'memory_grow' } as const
export const STACK_OVERFLOW_IMPORT = { module: RESERVED_IMPORT_MODULE, name: 'stack_overflow' } as const
export const ASYNCIFY_MEMORY_EXPORT = '__understudy_asyncify_memory'

const MEMORY_GROW_FN = '__understudy_memory_grow'
const STACK_OVERFLOW_FN = '__understudy_stack_overflow'
const ASYNCIFY_MEMORY = 'asyncify_memory'
const ASYNCIFY_STATE = '__asyncify_state'

/** Instruments `module` in place (it must have passed module-checks) and emits the binary. */
export function instrument(module: binaryen.Module, options: InstrumentOptions): InstrumentedModule {
  const ms = { transform: 0, asyncify: 0, stack: 0, emit: 0 }
  let t = performance.now()
  const lap = (key: keyof typeof ms) => {
    const now = performance.now()
    ms[key] = Math.round(now - t)
    t = now
  }
  module.setFeatures(EMIT_FEATURES)
  const functions = definedFunctions(module)
  const imports = importSignatures(module)

  module.addFunctionImport(
    MEMORY_GROW_FN,
    MEMORY_GROW_IMPORT.module,
    MEMORY_GROW_IMPORT.name,
    binaryen.i32,
    binaryen.i32,
  )
  module.addFunctionImport(
    STACK_OVERFLOW_FN,
    STACK_OVERFLOW_IMPORT.module,
    STACK_OVERFLOW_IMPORT.name,
    binaryen.none,
    binaryen.none,
  )
  imports.push({ ...MEMORY_GROW_IMPORT, result: 'i32' }, { ...STACK_OVERFLOW_IMPORT, result: 'none' })

  const nan = nanCanonicalizer(module)
  let memoryGrow = 0
  for (const name of functions) {
    const func = module.getFunction(name)
    walkExpression(
      ir.Function.getBody(func),
      (next) => ir.Function.setBody(func, next),
      (expr, replace) => {
        if (binaryen.getExpressionId(expr) === binaryen.MemoryGrowId) {
          memoryGrow++
          replace(module.call(MEMORY_GROW_FN, [ir.MemoryGrow.getDelta(expr)], binaryen.i32))
          return
        }
        nan.visit(expr, replace)
      },
    )
  }
  const globals = exportMutableGlobals(module)
  lap('transform')

  runAsyncify(module, options)
  module.addMemoryExport(ASYNCIFY_MEMORY, ASYNCIFY_MEMORY_EXPORT)
  lap('asyncify')

  const { counted } = addCallDepthLimit(module, {
    functions,
    leafCalls: new Set([...NAN_HELPERS, STACK_OVERFLOW_FN]),
    asyncifyState: hasGlobal(module, ASYNCIFY_STATE) ? ASYNCIFY_STATE : undefined,
    budget: options.stackBudget,
    overflowFunction: STACK_OVERFLOW_FN,
  })
  module.addGlobalExport(STACK_USED_GLOBAL, STACK_USED_GLOBAL)
  globals.push({ export: STACK_USED_GLOBAL, type: 'i32' })
  lap('stack')

  const binary = module.emitBinary()
  lap('emit')
  return {
    binary,
    meta: {
      version: INSTRUMENTATION_VERSION,
      options: { ...options, pausableImports: [...options.pausableImports] },
      globals,
      imports,
      asyncifyMemory: ASYNCIFY_MEMORY_EXPORT,
      stats: {
        functions: functions.length,
        nanScalar: nan.counts.scalar,
        nanVector: nan.counts.vector,
        memoryGrow,
        stackCounted: counted,
        ms,
      },
    },
  }
}

function runAsyncify(module: binaryen.Module, options: InstrumentOptions) {
  const pausable = [...options.pausableImports, `${MEMORY_GROW_IMPORT.module}.${MEMORY_GROW_IMPORT.name}`]
  const pages = Math.max(1, Math.ceil(options.asyncifyStackBytes / 65536))
  // Pass arguments and levels are binaryen-global: set them for this run only,
  // and pin the levels so every machine emits the same bytes.
  const levels = [binaryen.getOptimizeLevel(), binaryen.getShrinkLevel()] as const
  binaryen.setOptimizeLevel(2)
  binaryen.setShrinkLevel(1)
  binaryen.clearPassArguments()
  binaryen.setPassArgument('asyncify-imports', pausable.join(','))
  binaryen.setPassArgument('asyncify-in-secondary-memory', 'true')
  binaryen.setPassArgument('asyncify-secondary-memory-size', String(pages))
  if (options.ignoreIndirect) binaryen.setPassArgument('asyncify-ignore-indirect', 'true')
  try {
    module.runPasses(['asyncify'])
  } finally {
    binaryen.clearPassArguments()
    binaryen.setOptimizeLevel(levels[0])
    binaryen.setShrinkLevel(levels[1])
  }
}

function definedFunctions(module: binaryen.Module): string[] {
  const names: string[] = []
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i))
    if (info.module === '' && info.body !== 0) names.push(info.name)
  }
  return names
}

function importSignatures(module: binaryen.Module): ImportSignature[] {
  const out: ImportSignature[] = []
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i))
    if (info.module === '' || info.module === null) continue
    out.push({ module: info.module, name: info.base ?? '', result: resultType(info.results) })
  }
  return out
}

function resultType(type: number): ValueType | 'none' {
  if (type === binaryen.none) return 'none'
  const t = valueType(type)
  if (t === undefined) throw new Error(`unsupported import result type ${type}`)
  return t
}

function valueType(type: number): ValueType | undefined {
  if (type === binaryen.i32) return 'i32'
  if (type === binaryen.i64) return 'i64'
  if (type === binaryen.f32) return 'f32'
  if (type === binaryen.f64) return 'f64'
  return undefined
}

function exportMutableGlobals(module: binaryen.Module): GlobalSlot[] {
  const exported = new Map<string, string>()
  for (let i = 0; i < module.getNumExports(); i++) {
    const info = binaryen.getExportInfo(module.getExportByIndex(i))
    if (info.kind === binaryen.ExternalGlobal) exported.set(info.value, info.name)
  }
  const slots: GlobalSlot[] = []
  for (let i = 0; i < module.getNumGlobals(); i++) {
    const g = binaryen.getGlobalInfo(module.getGlobalByIndex(i))
    if (!g.mutable) continue
    const type = valueType(g.type)
    if (type === undefined) throw new Error(`mutable global ${g.name} has an unsupported type`)
    let name = exported.get(g.name)
    if (name === undefined) {
      name = `__understudy_global_${i}`
      module.addGlobalExport(g.name, name)
    }
    slots.push({ export: name, type })
  }
  return slots
}

function hasGlobal(module: binaryen.Module, name: string): boolean {
  for (let i = 0; i < module.getNumGlobals(); i++) {
    if (binaryen.getGlobalInfo(module.getGlobalByIndex(i)).name === name) return true
  }
  return false
}
