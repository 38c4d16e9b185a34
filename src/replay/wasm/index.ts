/**
 * The WebAssembly machine: WASI preview 1 guests checked at load, instrumented
 * for determinism and Asyncify (cached by module hash), run with pause,
 * checkpoint and restore. `WasmMachine` / `WasmDriver` implement the driver
 * interface of ../driver.ts.
 */
export type {
  GlobalValue,
  HostFunction,
  ImportTable,
  PausePoint as RuntimePausePoint,
  RuntimeResult,
  RuntimeStatus,
} from './asyncify-runtime.ts'
export { AsyncifyError, AsyncifyRuntime, defaultExitOf, StackBudgetExceeded } from './asyncify-runtime.ts'
export type { Checkpoint } from './checkpoint.ts'
export {
  CHECKPOINT_FORMAT_VERSION,
  decodeCheckpoint,
  encodeCheckpoint,
  readCheckpoint,
  writeCheckpoint,
} from './checkpoint.ts'
export type { InstrumentationMeta, InstrumentOptions } from './instrument.ts'
export { DEFAULT_INSTRUMENT_OPTIONS, MEMORY_GROW_IMPORT, STACK_OVERFLOW_IMPORT } from './instrument.ts'
export { instrumentInWorker, type WarmOptions } from './instrument-in-worker.ts'
export type { MemoryImage } from './memory-image.ts'
export { EMIT_FEATURES, GUEST_FEATURES } from './module-checks.ts'
export type { LoadedModule, LoadOptions } from './module-loader.ts'
export { DEFAULT_CACHE_DIR, loadModule } from './module-loader.ts'
export { stateDigest } from './state-digest.ts'
export type { ToolVersions } from './tool-versions.ts'
export { INSTRUMENTATION_VERSION, toolVersions } from './tool-versions.ts'
export type { HostImports, WasmComponents, WasmMachineOptions } from './wasm-machine.ts'
export { WasmDriver, WasmMachine } from './wasm-machine.ts'
