/**
 * Compiles a guest program to a WASI preview 1 module, cached by the hash of
 * its source and flags (so tests and the build can call it freely).
 *
 *   C:              Debian's clang --target=wasm32-wasi (wasi-libc, lld)
 *   Rust:           Debian's /usr/bin/rustc --target wasm32-wasi (libstd-rust-dev-wasm32)
 *   AssemblyScript: the `asc` compiler from node_modules with @assemblyscript/wasi-shim
 *
 * Install the toolchains with `scripts/install-deps.sh` (as root).
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, readFile, rename } from 'node:fs/promises'
import { dirname, extname, join, resolve } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const projectRoot = resolve(import.meta.dirname, '..')
const cacheDir = join(projectRoot, '.cache', 'guests')

/** Bump when the compiler invocation changes, so cached builds are redone. */
const COMPILE_RECIPE_VERSION = '2'

export type GuestLanguage = 'c' | 'rust' | 'assemblyscript'

export interface CompileOptions {
  /** Extra compiler flags (part of the cache key). */
  flags?: string[]
}

export function languageOf(source: string): GuestLanguage {
  const ext = extname(source)
  if (ext === '.c') return 'c'
  if (ext === '.rs') return 'rust'
  if (source.endsWith('.as.ts')) return 'assemblyscript'
  throw new Error(`cannot tell the language of ${source}: use .c, .rs or .as.ts`)
}

/** Compiles `source` to `out` (a .wasm path) unless a cached build of the same input exists. */
export async function compileGuest(
  source: string,
  out: string,
  options: CompileOptions = {},
): Promise<string> {
  const language = languageOf(source)
  const flags = options.flags ?? []
  const key = createHash('sha256')
    .update(language)
    .update('\0')
    .update(COMPILE_RECIPE_VERSION)
    .update('\0')
    .update(flags.join('\0'))
    .update('\0')
    .update(await readFile(source))
    .digest('hex')
    .slice(0, 32)
  const cached = join(cacheDir, `${key}.wasm`)
  if (!existsSync(cached)) {
    await mkdir(cacheDir, { recursive: true })
    const tmp = `${cached}.${process.pid}.tmp`
    await compileUncached(language, source, tmp, flags)
    await rename(tmp, cached)
  }
  await mkdir(dirname(out), { recursive: true })
  await copyFile(cached, out)
  return out
}

function pathWithoutNodeModules(): string {
  return (process.env.PATH ?? '')
    .split(':')
    .filter((dir) => !dir.includes('node_modules'))
    .join(':')
}

/** The options of @assemblyscript/wasi-shim's asconfig.json (asc needs the library path relative to its cwd). */
function assemblyScriptWasiFlags(): string[] {
  const uses = [
    'ASC_WASI=1',
    'abort=wasi_abort',
    'trace=wasi_trace',
    'seed=wasi_seed',
    'console=wasi_console',
  ]
  uses.push('crypto=wasi_crypto', 'performance=wasi_performance', 'process=wasi_process', 'Date=wasi_Date')
  return [
    '--lib',
    './node_modules/@assemblyscript/wasi-shim/assembly',
    ...uses.flatMap((u) => ['--use', u]),
    '--exportStart',
    '_start',
  ]
}

async function compileUncached(language: GuestLanguage, source: string, out: string, flags: string[]) {
  try {
    switch (language) {
      case 'c':
        // clang runs any wasm-opt it finds on PATH (npm puts binaryen's there), which would make
        // the output depend on how the build was started: hide it.
        await run(
          'clang',
          ['--target=wasm32-wasi', '-O2', '-Wl,--strip-debug', ...flags, '-o', out, source],
          {
            env: { ...process.env, PATH: pathWithoutNodeModules() },
          },
        )
        return
      case 'rust':
        await run('/usr/bin/rustc', [
          '--target',
          'wasm32-wasi',
          '-C',
          'opt-level=2',
          '-C',
          'debuginfo=0',
          '-C',
          'strip=debuginfo',
          '--edition',
          '2021',
          ...flags,
          '-o',
          out,
          source,
        ])
        return
      case 'assemblyscript':
        await run(
          process.execPath,
          [
            join(projectRoot, 'node_modules', 'assemblyscript', 'bin', 'asc.js'),
            source,
            ...assemblyScriptWasiFlags(),
            '-O2',
            ...flags,
            '-o',
            out,
          ],
          { cwd: projectRoot },
        )
        return
    }
  } catch (err) {
    const e = err as { stderr?: string; code?: string; path?: string }
    if (e.code === 'ENOENT') {
      throw new Error(
        `the ${language} guest toolchain is missing (${e.path}); run scripts/install-deps.sh as root`,
      )
    }
    throw new Error(`compiling ${source} failed:\n${e.stderr ?? String(err)}`)
  }
}
