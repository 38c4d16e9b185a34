/**
 * Load-time checks: a guest that could not run deterministically (threads,
 * relaxed SIMD, imports nobody records) or could not run at all is refused
 * here, with an InvalidModuleError that says what to change.
 */
import binaryen from 'binaryen'
import { InvalidModuleError } from '../../errors/index.ts'
import { ir } from './binaryen-ir.ts'
import { expressionId, walkExpression } from './expression-walker.ts'
import { type ModuleSections, readSections } from './wasm-sections.ts'

export interface ModuleCheckOptions {
  /** Importable functions by import module, e.g. `{ wasi_snapshot_preview1: ['fd_write', ...] }`. */
  supportedImports: Readonly<Record<string, readonly string[]>>
  /** The exported function the guest starts at. */
  entry: string
}

/** The import module understudy's own instrumentation uses; guests may not import from it. */
export const RESERVED_IMPORT_MODULE = 'understudy'

const F = binaryen.Features

/** Features a guest may use. */
export const GUEST_FEATURES =
  F.MutableGlobals |
  F.NontrappingFPToInt |
  F.SIMD128 |
  F.BulkMemory |
  F.BulkMemoryOpt |
  F.SignExt |
  F.ReferenceTypes |
  F.Multivalue |
  F.ExtendedConst |
  F.CallIndirectOverlong

/**
 * Features the instrumented module is emitted with: the guest's plus the
 * second memory Asyncify keeps its stack in. Pinned: emitting with
 * Features.All produced binaries V8 rejected.
 */
export const EMIT_FEATURES = GUEST_FEATURES | F.MultiMemory

/**
 * Everything that can be checked from the bytes alone: the header, imports,
 * memories and start section. Cheap, and repeated on cache hits.
 */
export function checkSections(bytes: Uint8Array, options: ModuleCheckOptions): ModuleSections {
  const sections = readSections(bytes)
  checkImports(sections, options)
  const [memory, ...more] = sections.memories
  if (memory === undefined) {
    throw new InvalidModuleError('the module defines no memory: a WASI guest must define and export "memory"')
  }
  if (more.length > 0) {
    throw new InvalidModuleError(
      `the module defines ${sections.memories.length} memories; understudy supports one (multi-memory is not supported)`,
    )
  }
  if (memory.shared) {
    throw new InvalidModuleError(
      'the module uses a shared memory (threads), which cannot be replayed deterministically: ' +
        'build it without threads (no -pthread, --shared-memory or +atomics)',
    )
  }
  if (memory.memory64) {
    throw new InvalidModuleError(
      'the module uses a 64-bit memory (memory64), which understudy does not support',
    )
  }
  if (sections.hasStart) {
    throw new InvalidModuleError(
      'the module has a start function (it would run again when a checkpoint is restored): ' +
        `build it as a WASI command that exports "${options.entry}" instead`,
    )
  }
  return sections
}

/** Rejects what V8 itself would refuse to compile, with V8's reason. */
export function checkCompiles(bytes: Uint8Array) {
  if (WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) return
  try {
    new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>)
  } catch (err) {
    throw new InvalidModuleError(
      `the WebAssembly engine (V8) rejects the module: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
  throw new InvalidModuleError('the WebAssembly engine (V8) rejects the module')
}

/**
 * The checks that need the decoded module: the entry export, the memory
 * export, mutable globals a checkpoint can hold, and every instruction.
 */
export function checkDecoded(module: binaryen.Module, options: ModuleCheckOptions) {
  checkExports(module, options)
  checkGlobals(module)
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i))
    if (info.module !== '' || info.body === 0) continue
    walkExpression(
      info.body,
      () => {},
      (expr) => checkInstruction(expr, info.name),
    )
  }
  checkFeatures(module)
}

function checkImports(sections: ModuleSections, options: ModuleCheckOptions) {
  const namespaces = Object.keys(options.supportedImports)
  for (const imp of sections.imports) {
    const where = `"${imp.module}" "${imp.name}"`
    if (imp.kind !== 'function') {
      throw new InvalidModuleError(
        `the module imports a ${imp.kind} (${where}); a guest may import only functions ` +
          `(from ${namespaces.map((n) => `"${n}"`).join(', ')}) and must define its own memory, tables and globals`,
      )
    }
    if (imp.module === RESERVED_IMPORT_MODULE) {
      throw new InvalidModuleError(
        `the module imports ${where} from "${RESERVED_IMPORT_MODULE}", which is reserved for understudy's instrumentation`,
      )
    }
    const names = options.supportedImports[imp.module]
    if (names === undefined) {
      throw new InvalidModuleError(
        `the module imports function ${where}, but module "${imp.module}" is not provided: ` +
          `a guest may import only from ${namespaces.map((n) => `"${n}"`).join(', ')} (WASI preview 1)`,
      )
    }
    if (!names.includes(imp.name)) {
      throw new InvalidModuleError(
        `the module imports function ${where}, which understudy does not implement ` +
          `(supported from "${imp.module}": ${[...names].sort().join(', ')})`,
      )
    }
  }
}

function checkExports(module: binaryen.Module, options: ModuleCheckOptions) {
  let entry: binaryen.ExportInfo | undefined
  let memory: binaryen.ExportInfo | undefined
  for (let i = 0; i < module.getNumExports(); i++) {
    const info = binaryen.getExportInfo(module.getExportByIndex(i))
    if (info.name === options.entry) entry = info
    if (info.name === 'memory') memory = info
  }
  if (entry === undefined) {
    throw new InvalidModuleError(
      `the module has no "${options.entry}" export: understudy runs WASI commands (a program with a main function); ` +
        'build a command, not a library or reactor, or name the entry export to start at',
    )
  }
  if (entry.kind !== binaryen.ExternalFunction) {
    throw new InvalidModuleError(`the module's "${options.entry}" export is not a function`)
  }
  const fn = binaryen.getFunctionInfo(module.getFunction(entry.value))
  if (fn.params !== binaryen.none || fn.results !== binaryen.none) {
    throw new InvalidModuleError(
      `the module's entry "${options.entry}" must take no arguments and return nothing`,
    )
  }
  if (memory === undefined || memory.kind !== binaryen.ExternalMemory) {
    throw new InvalidModuleError('the module does not export its memory as "memory", as WASI requires')
  }
}

function checkGlobals(module: binaryen.Module) {
  for (let i = 0; i < module.getNumGlobals(); i++) {
    const g = binaryen.getGlobalInfo(module.getGlobalByIndex(i))
    if (!g.mutable) continue
    if (![binaryen.i32, binaryen.i64, binaryen.f32, binaryen.f64].includes(g.type)) {
      throw new InvalidModuleError(
        `the module has a mutable global ${g.name} of a type (not i32, i64, f32 or f64) that a checkpoint cannot hold`,
      )
    }
  }
}

const RELAXED_UNARY = opSet([
  'RelaxedTruncSVecF32x4ToVecI32x4',
  'RelaxedTruncUVecF32x4ToVecI32x4',
  'RelaxedTruncZeroSVecF64x2ToVecI32x4',
  'RelaxedTruncZeroUVecF64x2ToVecI32x4',
])
const RELAXED_BINARY = opSet([
  'RelaxedSwizzleVecI8x16',
  'RelaxedMinVecF32x4',
  'RelaxedMaxVecF32x4',
  'RelaxedMinVecF64x2',
  'RelaxedMaxVecF64x2',
  'RelaxedQ15MulrSVecI16x8',
  'RelaxedDotI8x16I7x16SToVecI16x8',
])
const RELAXED_TERNARY = opSet([
  'RelaxedMaddVecF32x4',
  'RelaxedNmaddVecF32x4',
  'RelaxedMaddVecF64x2',
  'RelaxedNmaddVecF64x2',
  'RelaxedLaneselectI8x16',
  'RelaxedLaneselectI16x8',
  'RelaxedLaneselectI32x4',
  'RelaxedLaneselectI64x2',
  'RelaxedDotI8x16I7x16AddSToVecI32x4',
])

function opSet(names: string[]): Set<number> {
  const ops = binaryen as unknown as Record<string, unknown>
  return new Set(
    names.map((n) => {
      const v = ops[n]
      if (typeof v !== 'number') throw new Error(`binaryen.${n} is missing`)
      return v
    }),
  )
}

const tryTableId = expressionId('TryTable')
const throwRefId = expressionId('ThrowRef')
const tableFillId = expressionId('TableFill')
const tableCopyId = expressionId('TableCopy')
const tableInitId = expressionId('TableInit')
const elemDropId = expressionId('ElemDrop')

function checkInstruction(expr: number, fn: string) {
  const id = binaryen.getExpressionId(expr)
  const reject = (what: string, advice: string) => {
    throw new InvalidModuleError(`the module uses ${what} (${opName(expr)} in function ${fn}): ${advice}`)
  }
  const threads = 'build it without threads (no -pthread or +atomics)'
  switch (id) {
    case binaryen.AtomicRMWId:
    case binaryen.AtomicCmpxchgId:
    case binaryen.AtomicWaitId:
    case binaryen.AtomicNotifyId:
    case binaryen.AtomicFenceId:
      return reject('atomic instructions (threads)', threads)
    case binaryen.LoadId:
      if (ir.Load.isAtomic(expr)) reject('atomic instructions (threads)', threads)
      return
    case binaryen.StoreId:
      if (ir.Store.isAtomic(expr)) reject('atomic instructions (threads)', threads)
      return
    case binaryen.UnaryId:
      if (RELAXED_UNARY.has(ir.Unary.getOp(expr))) reject('relaxed SIMD', relaxedAdvice)
      return
    case binaryen.BinaryId:
      if (RELAXED_BINARY.has(ir.Binary.getOp(expr))) reject('relaxed SIMD', relaxedAdvice)
      return
    case binaryen.SIMDTernaryId:
      if (RELAXED_TERNARY.has(ir.SIMDTernary.getOp(expr))) reject('relaxed SIMD', relaxedAdvice)
      return
    case binaryen.CallId:
      if (ir.Call.isReturn(expr)) reject('tail calls', 'build it without the tail-call feature')
      return
    case binaryen.CallIndirectId:
      if (ir.CallIndirect.isReturn(expr)) reject('tail calls', 'build it without the tail-call feature')
      return
    case binaryen.TryId:
    case tryTableId:
    case binaryen.ThrowId:
    case binaryen.RethrowId:
    case throwRefId:
      return reject(
        'WebAssembly exceptions',
        'build it without exception handling (e.g. -fno-exceptions, panic=abort)',
      )
    case binaryen.TableSetId:
    case binaryen.TableGrowId:
    case tableFillId:
    case tableCopyId:
    case tableInitId:
    case elemDropId:
      return reject(
        'instructions that change a table at run time',
        'checkpoints hold memory and globals but not tables, so such a guest cannot be paused and restored',
      )
  }
}

const relaxedAdvice = 'its results depend on the CPU, so build it without relaxed SIMD (no -mrelaxed-simd)'

function opName(expr: number): string {
  const text = binaryen.emitText(expr).slice(0, 200)
  return /^\(?([^\s()]+)/.exec(text)?.[1] ?? 'an instruction'
}

/**
 * Catch-all: binaryen's validator with only the supported features enabled
 * (GC, memory64, stack switching, ...). It reports on stderr, so that is
 * captured for the error message.
 */
function checkFeatures(module: binaryen.Module) {
  const before = module.getFeatures()
  module.setFeatures(GUEST_FEATURES)
  let report = ''
  const write = process.stderr.write
  process.stderr.write = ((chunk: string | Uint8Array) => {
    report += typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk)
    return true
  }) as typeof process.stderr.write
  let valid: number
  try {
    valid = module.validate()
  } finally {
    process.stderr.write = write
    module.setFeatures(before)
  }
  if (!valid) {
    const first = report.split('\n').find((l) => l.includes('error')) ?? report.split('\n')[0] ?? ''
    throw new InvalidModuleError(
      `the module uses WebAssembly features understudy does not support: ${first.replace(/^\[wasm-validator error[^\]]*\]\s*/, '').trim()}`,
    )
  }
}

export type { ModuleSections }
