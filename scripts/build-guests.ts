/**
 * Builds every example guest in guests/ into guests/build/<name>.wasm.
 *
 * Builds go through compileGuest's content-addressed cache, so a run where nothing
 * changed only copies cached modules (and leaves outputs that are already equal alone).
 * An output is replaced by a rename, so a test reading a module while another process
 * builds never sees half a file.
 *
 *   npx node scripts/build-guests.ts       (also run by `npm test` and `npm run build`)
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, rename, rm, stat } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { promisify } from 'node:util'
import { GuestBuildError, ToolchainMissingError } from '../src/errors/index.ts'
import { compileGuest, type GuestLanguage, languageOf } from './compile-guest.ts'

export type GuestName = 'interactive' | 'kv' | 'counter' | 'files' | 'fsops' | 'compute' | 'memhog'

export interface GuestSpec {
  name: GuestName
  /** The source file, relative to the project root. */
  source: string
  summary: string
}

export interface BuildGuestsOptions {
  /** Where the modules go (default guests/build). */
  outDir?: string
  /** Receives one line per guest built. */
  log?: (line: string) => void
  signal?: AbortSignal
}

export const projectRoot = resolve(import.meta.dirname, '..')
export const defaultGuestBuildDir = join(projectRoot, 'guests', 'build')

export const guests: readonly GuestSpec[] = [
  {
    name: 'interactive',
    source: 'guests/interactive/interactive.c',
    summary: 'stdin lines mixed with clocks and random into memory and /data',
  },
  { name: 'kv', source: 'guests/kv/kv.c', summary: 'key-value service, line protocol, /data/kv.db' },
  {
    name: 'counter',
    source: 'guests/as/counter.as.ts',
    summary: 'AssemblyScript line counter with state in globals',
  },
  { name: 'files', source: 'guests/rust/files.rs', summary: 'Rust std file-system report' },
  { name: 'fsops', source: 'guests/c/fsops.c', summary: 'POSIX file-system calls and their errors' },
  { name: 'compute', source: 'guests/compute/compute.c', summary: 'CPU workloads and import-call loops' },
  {
    name: 'memhog',
    source: 'guests/compute/memhog.c',
    summary: 'N MiB of random memory, then waits on stdin',
  },
]

/** Where `buildGuests` puts a guest (it may not be built yet). */
export function guestWasmPath(name: GuestName, outDir = defaultGuestBuildDir): string {
  return join(outDir, `${name}.wasm`)
}

/** Builds one guest and returns the path of its module. */
export async function buildGuest(name: GuestName, options: BuildGuestsOptions = {}): Promise<string> {
  const spec = guests.find((g) => g.name === name)
  if (spec === undefined) throw new GuestBuildError(name, `there is no guest named ${name}`)
  options.signal?.throwIfAborted()
  const out = guestWasmPath(name, options.outDir)
  const started = performance.now()
  const changed = await compileTo(spec, out)
  const { size } = await stat(out)
  const ms = Math.round(performance.now() - started)
  options.log?.(
    `${name.padEnd(12)} ${relative(process.cwd(), out).padEnd(28)} ${(size / 1024).toFixed(1).padStart(7)} KiB` +
      `  ${changed ? 'built' : 'unchanged'} in ${ms} ms`,
  )
  return out
}

/** Builds every guest (in parallel) and returns name → module path. */
export async function buildGuests(options: BuildGuestsOptions = {}): Promise<Record<GuestName, string>> {
  const paths = await Promise.all(guests.map((g) => buildGuest(g.name, options)))
  return Object.fromEntries(guests.map((g, i) => [g.name, paths[i]])) as Record<GuestName, string>
}

/** Compiles through the cache into a temporary file, then renames it over `out` if it differs. */
async function compileTo(spec: GuestSpec, out: string): Promise<boolean> {
  const tmp = `${out}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await compileGuest(join(projectRoot, spec.source), tmp)
  } catch (err) {
    await rm(tmp, { force: true })
    const missing = await missingToolchain(languageOf(spec.source))
    if (missing !== undefined) throw missing
    throw new GuestBuildError(
      spec.name,
      `building guest ${spec.name} from ${spec.source} failed: ${String(err)}`,
      {
        cause: err,
      },
    )
  }
  if (existsSync(out) && (await readFile(out)).equals(await readFile(tmp))) {
    await rm(tmp)
    return false
  }
  await rename(tmp, out)
  return true
}

const run = promisify(execFile)
const hint = 'install the guest toolchains with scripts/install-deps.sh (as root)'
const debianPackageOf: Record<string, string> = {
  clang: 'clang',
  'wasm-ld': 'lld',
  '/usr/bin/rustc': 'rustc',
}

/** Says which part of a language's toolchain is missing, if any (asked only after a failed build). */
async function missingToolchain(language: GuestLanguage): Promise<ToolchainMissingError | undefined> {
  const missing = (what: string) => new ToolchainMissingError(language, `${what} is missing: ${hint}`)
  try {
    switch (language) {
      case 'c': {
        const libc = (await run('clang', ['--target=wasm32-wasi', '-print-file-name=libc.a'])).stdout.trim()
        if (!existsSync(libc)) return missing('wasi-libc (Debian package wasi-libc)')
        const rt = (await run('clang', ['--target=wasm32-wasi', '-print-libgcc-file-name'])).stdout.trim()
        if (!existsSync(rt))
          return missing('the wasm32 compiler runtime (Debian package libclang-rt-14-dev-wasm32)')
        await run('wasm-ld', ['--version'])
        return undefined
      }
      case 'rust': {
        const sysroot = (await run('/usr/bin/rustc', ['--print', 'sysroot'])).stdout.trim()
        if (!existsSync(join(sysroot, 'lib', 'rustlib', 'wasm32-wasi', 'lib'))) {
          return missing("rustc's wasm32-wasi standard library (Debian package libstd-rust-dev-wasm32)")
        }
        return undefined
      }
      case 'assemblyscript': {
        const asc = join(projectRoot, 'node_modules', 'assemblyscript', 'bin', 'asc.js')
        const shim = join(projectRoot, 'node_modules', '@assemblyscript', 'wasi-shim', 'assembly')
        if (!existsSync(asc) || !existsSync(shim)) {
          return new ToolchainMissingError(
            language,
            'assemblyscript or @assemblyscript/wasi-shim is missing from node_modules: run npm ci',
          )
        }
        return undefined
      }
    }
  } catch (err) {
    const e = err as { code?: string; path?: string }
    if (e.code === 'ENOENT')
      return missing(`${e.path} (Debian package ${debianPackageOf[e.path ?? ''] ?? e.path})`)
    throw err
  }
}

if (import.meta.main) {
  try {
    await buildGuests({ log: (line) => console.log(line) })
  } catch (err) {
    console.error(`build-guests: ${err instanceof Error ? err.message : String(err)}`)
    process.exitCode = 1
  }
}
