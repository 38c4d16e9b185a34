/**
 * Runs a guest under Node's built-in `node:wasi`, the reference WASI runtime the
 * machine's own host is compared against.
 *
 * As a module: `runReference(wasm, options)` runs it in this process with stdin read
 * from a file and stdout/stderr captured. As a script, it runs a guest on this
 * process's own stdio, so a test can talk to it over pipes line by line:
 *
 *   node test/guests/reference-runtime.ts GUEST.wasm [--dir HOST::GUEST] [--env K=V] [-- ARGS...]
 */
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { WASI } from 'node:wasi'

export interface ReferenceRunOptions {
  /** Arguments after argv[0] (the module's file name). */
  args?: string[]
  env?: Record<string, string>
  /** Everything the guest will read from stdin. */
  stdin?: string | Uint8Array
  /** Preopened directories: guest path → host path. */
  dirs?: Record<string, string>
  /** Return a copy of linear memory as the guest left it. */
  keepMemory?: boolean
}

export interface ReferenceRun {
  exitCode: number
  stdout: string
  stderr: string
  /** The size of the guest's linear memory when it stopped. */
  memoryBytes: number
  /** Linear memory as the guest left it (only with `keepMemory`). */
  memory?: Uint8Array
}

/** Runs `wasmPath` to completion under node:wasi and returns its exit code and output. */
export async function runReference(
  wasmPath: string,
  options: ReferenceRunOptions = {},
): Promise<ReferenceRun> {
  const scratch = await mkdtemp(join(tmpdir(), 'understudy-ref-'))
  const stdinPath = join(scratch, 'stdin')
  const stdoutPath = join(scratch, 'stdout')
  const stderrPath = join(scratch, 'stderr')
  writeFileSync(stdinPath, options.stdin ?? '')
  const fds = [openSync(stdinPath, 'r'), openSync(stdoutPath, 'w'), openSync(stderrPath, 'w')] as const
  try {
    const { exitCode, memory } = await startGuest(wasmPath, options, fds)
    return {
      exitCode,
      memoryBytes: memory.byteLength,
      ...(options.keepMemory ? { memory: new Uint8Array(memory.slice(0)) } : {}),
      stdout: readFileSync(stdoutPath, 'utf8'),
      stderr: readFileSync(stderrPath, 'utf8'),
    }
  } finally {
    for (const fd of fds) closeSync(fd)
    await rm(scratch, { recursive: true, force: true })
  }
}

async function startGuest(
  wasmPath: string,
  options: ReferenceRunOptions,
  [stdin, stdout, stderr]: readonly [number, number, number],
): Promise<{ exitCode: number; memory: ArrayBuffer }> {
  const wasi = new WASI({
    version: 'preview1',
    args: [basename(wasmPath), ...(options.args ?? [])],
    env: options.env ?? {},
    preopens: options.dirs ?? {},
    stdin,
    stdout,
    stderr,
    returnOnExit: true,
  })
  const module = await WebAssembly.compile(await readFile(wasmPath))
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject() as WebAssembly.Imports)
  const exitCode = wasi.start(instance)
  return { exitCode, memory: (instance.exports.memory as WebAssembly.Memory).buffer }
}

function parseCommandLine(argv: string[]): { wasm: string; options: ReferenceRunOptions } {
  const [wasm, ...rest] = argv
  if (wasm === undefined)
    throw new Error('usage: reference-runtime.ts GUEST.wasm [--dir HOST::GUEST] [-- ARGS]')
  const dirs: Record<string, string> = {}
  const env: Record<string, string> = {}
  let args: string[] = []
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i]
    if (flag === '--') {
      args = rest.slice(i + 1)
      break
    }
    const value = rest[++i]
    if (value === undefined) throw new Error(`${flag} needs a value`)
    if (flag === '--dir') {
      const [host, guest] = value.split('::')
      dirs[guest ?? host!] = host!
    } else if (flag === '--env') {
      const eq = value.indexOf('=')
      env[value.slice(0, eq)] = value.slice(eq + 1)
    } else {
      throw new Error(`unknown flag ${flag}`)
    }
  }
  return { wasm, options: { args, env, dirs } }
}

if (import.meta.main) {
  const { wasm, options } = parseCommandLine(process.argv.slice(2))
  process.exitCode = (await startGuest(wasm, options, [0, 1, 2])).exitCode
}
