/**
 * What instrumentation costs: run time of compute-heavy C guests plain vs
 * instrumented (NaN canonicalization, memory.grow hook, stack budget,
 * Asyncify), with and without asyncify-ignore-indirect; and instrumentation
 * time for a small and a ~1 MB module. Run times are steady-state medians
 * (after a warm-up run). Prints JSON.
 *
 *   npx node bench/asyncify.ts [--quick]
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compileGuest } from '../scripts/compile-guest.ts'
import type { MaybePromise, Tape } from '../src/replay/types.ts'
import { type HostImports, loadModule, WasmMachine } from '../src/replay/wasm/index.ts'

const quick = process.argv.includes('--quick')
const RUNS = quick ? 1 : 5

// Each kernel's hot loop calls a function many times, so V8's tier-up takes effect within a run.
const KERNELS: Record<string, string> = {
  // Direct calls into functions that can reach an import: Asyncify instruments them all.
  calls:
    '__attribute__((noinline)) static unsigned walk(unsigned n, unsigned seed) {\n' +
    '  if (seed == 0xdeadbeefu) puts("never: but walk can reach an import");\n' +
    '  if (n == 0) return seed * 2654435761u;\n' +
    '  return walk(n - 1, seed ^ n) + walk(n - 1, seed + n); }\n' +
    'static volatile unsigned depth = 25;\n' +
    'static double kernel(void) { return walk(depth, 1); }',
  // A float loop: NaN canonicalization at every store, no calls in the loop body.
  floats:
    '__attribute__((noinline)) static double pass(double *a, int r) { double acc = 0;\n' +
    '  for (int i = 0; i < 4096; i++) { a[i] = a[i] * 0.5 + (double)(i ^ r) / 3.0; acc += a[i]; }\n' +
    '  return acc; }\n' +
    'static double kernel(void) { static double a[4096]; double acc = 0;\n' +
    '  for (int r = 0; r < 20000; r++) acc += pass(a, r);\n' +
    '  return acc; }',
  // qsort: an indirect call per comparison.
  indirect:
    'static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }\n' +
    'static double kernel(void) { int n = 400000; double *v = malloc(n * sizeof *v); unsigned x = 1;\n' +
    '  for (int i = 0; i < n; i++) { x = x * 1103515245u + 12345u; v[i] = (x >> 8) / 16777216.0; }\n' +
    '  qsort(v, n, sizeof *v, cmp); double m = v[n / 2]; free(v); return m; }',
}

const guest = (kernel: string) => `#include <stdio.h>
#include <stdlib.h>
${kernel}
int main(void) { printf("%f\\n", kernel()); return 0; }
`

class Exit extends Error {
  readonly code: number
  constructor(code: number) {
    super(`exit ${code}`)
    this.name = 'ProcExit'
    this.code = code
  }
}

/** Just enough WASI for the bench guests: stdout, exit, and harmless answers to the rest. */
function benchHost(): HostImports & { out: string } {
  let memory: WebAssembly.Memory | undefined
  const view = () => new DataView((memory as WebAssembly.Memory).buffer)
  const host = {
    out: '',
    imports: {
      fd_write: (_fd: number, iovs: number, n: number, written: number) => {
        let total = 0
        for (let i = 0; i < n; i++) {
          const ptr = view().getUint32(iovs + 8 * i, true)
          const len = view().getUint32(iovs + 8 * i + 4, true)
          host.out += new TextDecoder().decode(new Uint8Array(view().buffer, ptr, len))
          total += len
        }
        view().setUint32(written, total, true)
        return 0
      },
      fd_read: (_fd: number, _iovs: number, _n: number, read: number) => {
        view().setUint32(read, 0, true)
        return 0
      },
      fd_fdstat_get: (_fd: number, at: number) => {
        view().setUint8(at, 2)
        return 0
      },
      fd_seek: () => 70,
      fd_close: () => 0,
      proc_exit: (code: number) => {
        throw new Exit(code)
      },
    },
    setMemory: (m: WebAssembly.Memory) => {
      memory = m
    },
    snapshot: () => new TextEncoder().encode(host.out),
  }
  return host
}

const nullTape: Tape = {
  mode: 'record',
  position: 0,
  call: (_fn, _args, live): MaybePromise<Uint8Array> => live(),
  input: (_name, live) => live(),
  output: () => {},
  exit: () => {},
}

async function plainRun(module: WebAssembly.Module): Promise<number> {
  const host = benchHost()
  const t = performance.now()
  const instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: host.imports })
  host.setMemory(instance.exports.memory as WebAssembly.Memory)
  try {
    ;(instance.exports._start as () => void)()
  } catch (err) {
    if (!(err instanceof Exit)) throw err
  }
  return performance.now() - t
}

const PAUSABLE = ['fd_read', 'fd_write']

async function instrumentedRun(
  bytes: Uint8Array,
  cacheDir: string,
  ignoreIndirect: boolean,
): Promise<number> {
  const host = benchHost()
  const machine = await WasmMachine.boot(
    bytes,
    { host, tape: nullTape },
    { pausableImports: PAUSABLE, cacheDir, instrument: { ignoreIndirect } },
  )
  const t = performance.now()
  const result = await machine.run()
  const ms = performance.now() - t
  if (result.kind !== 'ended' || result.outcome.kind !== 'exit')
    throw new Error(`bad outcome ${JSON.stringify(result)}`)
  return ms
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return Math.round((s[Math.floor(s.length / 2)] ?? 0) * 10) / 10
}

/** The median of RUNS runs after one warm-up (V8 shares compiled code between instances of one module). */
async function timeRuns(f: () => Promise<number>) {
  await f()
  const xs: number[] = []
  for (let i = 0; i < RUNS; i++) xs.push(await f())
  return median(xs)
}

/** ~1 MB of code: many functions that call each other, switch, and do float work. */
function bigSource(functions: number): string {
  const parts = ['#include <stdio.h>', 'volatile double sink;']
  for (let i = 0; i < functions; i++) parts.push(`int f${i}(int x);`)
  for (let i = 0; i < functions; i++) {
    const callee = (k: number) => `f${(i * 7 + k) % functions}`
    parts.push(`int f${i}(int x) {
  double d = x * 1.5;
  switch (x & 15) {
    case 0: return x > 1000 ? x : ${callee(1)}(x + 1) * 3;
    case 1: d = d * d + ${i}; break;
    case 2: return x > 1000 ? x : ${callee(2)}(x ^ ${i});
    case 3: d = d / (x + 1); sink = d; break;
    case 4: return (x << 3) ^ ${i * 31};
    case 5: d -= ${i}.25; break;
    case 6: return x > 1000 ? x : ${callee(3)}(x + 2) + ${callee(4)}(x + 3);
    case 7: sink = d * ${i}; break;
    case 8: return x * x - ${i};
    case 9: d = d * 3 - x; break;
    case 10: if (x == -7) puts("unreachable in practice, but every function can reach an import"); break;
    default: return x + ${i};
  }
  sink = d;
  return (int)d ^ x;
}`)
  }
  parts.push(
    `int main(void) { int s = 0; for (int i = 0; i < ${functions}; i += 97) s += f0(i); printf("%d\\n", s); return 0; }`,
  )
  return parts.join('\n')
}

async function instrumentTime(bytes: Uint8Array, ignoreIndirect: boolean) {
  const loaded = await loadModule(bytes, {
    supportedImports: { wasi_snapshot_preview1: Object.keys(benchHost().imports) },
    pausableImports: PAUSABLE.map((n) => `wasi_snapshot_preview1.${n}`),
    cacheDir: null,
    instrument: { ignoreIndirect },
  })
  return {
    totalMs: Math.round(loaded.timing.check + loaded.timing.instrument),
    checkMs: Math.round(loaded.timing.check),
    ...loaded.meta.stats.ms,
  }
}

const work = await mkdtemp(join(tmpdir(), 'understudy-bench-'))
try {
  const runtime: Record<string, unknown> = {}
  for (const [name, kernel] of Object.entries(KERNELS)) {
    const src = join(work, `${name}.c`)
    await writeFile(src, guest(kernel))
    const bytes = await readFile(await compileGuest(src, join(work, `${name}.wasm`)))
    const cacheDir = join(work, 'cache')
    const module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>)
    const plain = await timeRuns(() => plainRun(module))
    const instrumented = await timeRuns(() => instrumentedRun(bytes, cacheDir, false))
    const ignoreIndirect = await timeRuns(() => instrumentedRun(bytes, cacheDir, true))
    runtime[name] = {
      plainMs: plain,
      instrumentedMs: instrumented,
      ratio: Math.round((instrumented / plain) * 100) / 100,
      ignoreIndirectMs: ignoreIndirect,
      ignoreIndirectRatio: Math.round((ignoreIndirect / plain) * 100) / 100,
    }
  }

  const smallBytes = await readFile(join(work, 'indirect.wasm'))
  const bigSrc = join(work, 'big.c')
  await writeFile(bigSrc, bigSource(quick ? 600 : 2600))
  const bigBytes = await readFile(await compileGuest(bigSrc, join(work, 'big.wasm')))
  const instrumentation: Record<string, unknown> = {}
  for (const [name, bytes] of [
    ['small', smallBytes],
    ['large', bigBytes],
  ] as const) {
    instrumentation[name] = {
      moduleBytes: bytes.byteLength,
      default: await instrumentTime(bytes, false),
      ignoreIndirect: await instrumentTime(bytes, true),
    }
  }
  console.log(
    JSON.stringify(
      { bench: 'asyncify', node: process.versions.node, runs: RUNS, runtime, instrumentation },
      null,
      2,
    ),
  )
} finally {
  await rm(work, { recursive: true, force: true })
}
