/**
 * Module bytes in, a compiled, checked and instrumented module out: hash,
 * load-time checks, instrumentation (cached on disk by hash), compilation.
 */
import { resolve } from 'node:path'
import binaryen from 'binaryen'
import { InvalidModuleError } from '../../errors/index.ts'
import {
  DEFAULT_INSTRUMENT_OPTIONS,
  type InstrumentationMeta,
  type InstrumentOptions,
  instrument,
} from './instrument.ts'
import { type CacheEntry, cacheKey, readCacheEntry, sha256Hex, writeCacheEntry } from './module-cache.ts'
import { checkCompiles, checkDecoded, checkSections, type ModuleCheckOptions } from './module-checks.ts'
import { INSTRUMENTATION_VERSION, type ToolVersions, toolVersions } from './tool-versions.ts'

export interface LoadOptions {
  /** Importable functions by import module, e.g. `{ wasi_snapshot_preview1: [...] }`. */
  supportedImports: Readonly<Record<string, readonly string[]>>
  /** Imports, as "module.name", inside which the guest may block or be paused. */
  pausableImports: readonly string[]
  /** The exported function the guest starts at (default `_start`). */
  entry?: string
  /**
   * Where instrumented modules are cached; default `.cache/wasm` in the project.
   * `null` disables the disk cache.
   */
  cacheDir?: string | null
  instrument?: Partial<Omit<InstrumentOptions, 'pausableImports'>>
}

export interface LoadedModule {
  /** SHA-256 of the module as given, hex. Identifies the guest everywhere. */
  hash: string
  /** SHA-256 of the instrumented binary, hex (a checkpoint only restores into the same one). */
  instrumentedHash: string
  module: WebAssembly.Module
  meta: InstrumentationMeta
  entry: string
  tools: ToolVersions
  /** True when the instrumented module came from the disk cache. */
  fromCache: boolean
  /** The cached instrumented binary, when the disk cache is on. */
  cacheFile: string | undefined
  /** Milliseconds spent: checks, instrumentation (0 on a cache hit), compilation. */
  timing: { check: number; instrument: number; compile: number }
}

export const DEFAULT_CACHE_DIR = resolve(import.meta.dirname, '..', '..', '..', '.cache', 'wasm')

export async function loadModule(bytes: Uint8Array, options: LoadOptions): Promise<LoadedModule> {
  const entry = options.entry ?? '_start'
  const checks: ModuleCheckOptions = { supportedImports: options.supportedImports, entry }
  const instrumentOptions: InstrumentOptions = {
    ...DEFAULT_INSTRUMENT_OPTIONS,
    ...options.instrument,
    pausableImports: [...new Set(options.pausableImports)].sort(),
  }
  const tools = toolVersions()
  const hash = sha256Hex(bytes)
  const cacheDir = options.cacheDir === undefined ? DEFAULT_CACHE_DIR : options.cacheDir
  const key = cacheKey({
    module: hash,
    entry,
    instrumentation: INSTRUMENTATION_VERSION,
    binaryen: tools.binaryen,
    options: instrumentOptions,
  })

  let t = performance.now()
  // The import check depends on the caller's supported set, so it runs on every load.
  checkSections(bytes, checks)
  const timing = { check: 0, instrument: 0, compile: 0 }
  let entryFound: CacheEntry | undefined = cacheDir === null ? undefined : await readCacheEntry(cacheDir, key)
  const fromCache = entryFound !== undefined
  if (entryFound === undefined) {
    checkCompiles(bytes)
    const decoded = binaryen.readBinary(bytes)
    try {
      checkDecoded(decoded, checks)
      timing.check = performance.now() - t
      t = performance.now()
      const out = instrument(decoded, instrumentOptions)
      timing.instrument = performance.now() - t
      entryFound =
        cacheDir === null
          ? { binary: out.binary, meta: out.meta, instrumentedHash: sha256Hex(out.binary), file: '' }
          : await writeCacheEntry(cacheDir, key, out.binary, out.meta)
    } finally {
      decoded.dispose()
    }
  } else {
    timing.check = performance.now() - t
  }
  t = performance.now()
  let module: WebAssembly.Module
  try {
    module = await WebAssembly.compile(entryFound.binary as Uint8Array<ArrayBuffer>)
  } catch (err) {
    throw new InvalidModuleError(
      `the instrumented module does not compile (a bug in understudy's instrumentation): ${(err as Error).message}`,
      { cause: err },
    )
  }
  timing.compile = performance.now() - t
  return {
    hash,
    instrumentedHash: entryFound.instrumentedHash,
    module,
    meta: entryFound.meta,
    entry,
    tools,
    fromCache,
    cacheFile: entryFound.file === '' ? undefined : entryFound.file,
    timing,
  }
}
