/**
 * The on-disk cache of instrumented modules. Instrumenting costs about a
 * second for a small C program and many seconds for a large one, so each
 * result is kept under a key made of the module hash, the instrumentation
 * options and version, and binaryen's version.
 *
 * Two files per entry: `<key>.wasm`, then `<key>.json` (written last, so its
 * presence means the entry is complete). Both are written to a temporary name
 * and renamed, so concurrent loaders never see half a file.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { InstrumentationMeta } from './instrument.ts'

export interface CacheEntry {
  binary: Uint8Array
  meta: InstrumentationMeta
  instrumentedHash: string
  file: string
}

interface StoredMeta {
  key: string
  instrumentedHash: string
  meta: InstrumentationMeta
}

export function cacheKey(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 40)
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The entry for `key`, or undefined when there is none or it does not check out. */
export async function readCacheEntry(dir: string, key: string): Promise<CacheEntry | undefined> {
  const file = join(dir, `${key}.wasm`)
  let stored: StoredMeta
  let binary: Uint8Array
  try {
    stored = JSON.parse(await readFile(join(dir, `${key}.json`), 'utf8')) as StoredMeta
    binary = new Uint8Array(await readFile(file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  // A damaged entry is rebuilt rather than trusted.
  if (stored.key !== key || sha256Hex(binary) !== stored.instrumentedHash) return undefined
  return { binary, meta: stored.meta, instrumentedHash: stored.instrumentedHash, file }
}

export async function writeCacheEntry(
  dir: string,
  key: string,
  binary: Uint8Array,
  meta: InstrumentationMeta,
): Promise<CacheEntry> {
  await mkdir(dir, { recursive: true })
  const instrumentedHash = sha256Hex(binary)
  const file = join(dir, `${key}.wasm`)
  await writeAtomically(file, binary)
  const stored: StoredMeta = { key, instrumentedHash, meta }
  await writeAtomically(join(dir, `${key}.json`), JSON.stringify(stored, null, 1))
  return { binary, meta, instrumentedHash, file }
}

async function writeAtomically(path: string, data: Uint8Array | string) {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(tmp, data)
  await rename(tmp, path)
}
