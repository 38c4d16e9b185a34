import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import test from 'ava'
import binaryen from 'binaryen'
import { DivergenceError, InvalidModuleError } from '../../../src/errors/index.ts'
import { loadModule, WasmMachine } from '../../../src/replay/wasm/index.ts'
import { MemoryTape } from './memory-tape.ts'
import { tinyHost } from './tiny-host.ts'
import { WASI, wat } from './wat.ts'

const run = promisify(execFile)
const F = binaryen.Features

let cacheDir: string
test.before(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'understudy-wasm-'))
})
test.after.always(async () => {
  await rm(cacheDir, { recursive: true, force: true })
})

const boot = (bytes: Uint8Array, tape = MemoryTape.record()) =>
  WasmMachine.boot(bytes, { host: tinyHost(), tape }, { pausableImports: [], cacheDir })

// A signaling f32 NaN with payload 1 at 0, an f64 one at 8; address 200 holds zeros.
const NAN_MODULE = wat(
  `(module
  (memory (export "memory") 1)
  (data (i32.const 0) "\\01\\00\\a0\\7f\\00\\00\\00\\00\\01\\00\\00\\00\\00\\00\\f4\\7f")
  (func $zero32 (result f32) (f32.load (i32.const 200)))
  (func $zero64 (result f64) (f64.load (i32.const 200)))
  (func (export "_start")
    (f32.store (i32.const 16) (f32.add (f32.load (i32.const 0)) (f32.const 1)))
    (f32.store (i32.const 20) (f32.div (call $zero32) (call $zero32)))
    (i32.store (i32.const 24) (i32.reinterpret_f32 (f32.div (call $zero32) (call $zero32))))
    (f64.store (i32.const 32) (f64.add (f64.load (i32.const 8)) (f64.const 1)))
    (i64.store (i32.const 40) (i64.reinterpret_f64 (f64.div (call $zero64) (call $zero64))))
    (f32.store (i32.const 48) (f32.copysign (f32.const 1) (f32.div (call $zero32) (call $zero32))))
    (f32.store (i32.const 56) (f32.load (i32.const 0)))
    (v128.store (i32.const 64) (f32x4.add (v128.load (i32.const 0)) (v128.const f32x4 1 1 1 1)))
    (v128.store (i32.const 80) (i32x4.add (v128.load (i32.const 0)) (v128.const i32x4 0 0 0 0)))
    (v128.store (i32.const 96) (f32x4.splat (f32.add (f32.load (i32.const 0)) (f32.const 1))))))`,
  F.SIMD128,
)

const words = (memory: ArrayBuffer, at: number, n: number) =>
  Array.from(new Uint32Array(memory, at, n), (w) => w.toString(16).padStart(8, '0'))

test('NaNs produced by arithmetic are canonical wherever their bits can be seen', async (t) => {
  const machine = await boot(NAN_MODULE)
  const result = await machine.run()
  t.deepEqual(result.kind === 'ended' && result.outcome, { kind: 'exit', code: 0 })
  const mem = machine.memory.buffer
  t.deepEqual(words(mem, 16, 3), ['7fc00000', '7fc00000', '7fc00000'], 'f32.store and i32.reinterpret_f32')
  t.deepEqual(
    words(mem, 32, 4),
    ['00000000', '7ff80000', '00000000', '7ff80000'],
    'f64.store, i64.reinterpret_f64',
  )
  t.deepEqual(words(mem, 48, 1), ['3f800000'], 'copysign takes the canonical (positive) sign')
  t.deepEqual(words(mem, 56, 1), ['7fa00001'], 'a NaN copied by load and store keeps its bits')
  t.deepEqual(words(mem, 64, 4), ['7fc00000', '3f800000', '3f800000', '7fc00000'], 'f32x4.add lanes')
  t.deepEqual(
    words(mem, 80, 4),
    ['7fa00001', '00000000', '00000001', '7ff40000'],
    'integer SIMD data that looks like NaNs is untouched',
  )
  t.deepEqual(words(mem, 96, 4), ['7fc00000', '7fc00000', '7fc00000', '7fc00000'], 'f32x4.splat of a NaN')
})

test('without instrumentation the same module shows a NaN payload (so the test above can fail)', (t) => {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(NAN_MODULE as Uint8Array<ArrayBuffer>))
  ;(instance.exports._start as () => void)()
  const mem = (instance.exports.memory as WebAssembly.Memory).buffer
  t.not(words(mem, 16, 1)[0], '7fc00000')
})

const GROW_MODULE = wat(`(module (memory (export "memory") 1 10)
  (func (export "_start")
    (i32.store (i32.const 0) (memory.grow (i32.const 2)))
    (i32.store (i32.const 4) (memory.size))))`)

test('memory.grow goes through the tape while recording', async (t) => {
  const tape = MemoryTape.record()
  const machine = await boot(GROW_MODULE, tape)
  await machine.run()
  t.deepEqual(
    tape.calls.map((c) => [c.fn, c.args, Buffer.from(c.result).readInt32LE()]),
    [['memory.grow', '2', 1]],
  )
  const view = new DataView(machine.memory.buffer)
  t.is(view.getInt32(0, true), 1)
  t.is(view.getInt32(4, true), 3)
})

const grew = (result: number) => [
  { fn: 'memory.grow', args: '2', result: new Uint8Array(new Int32Array([result]).buffer) },
]

test('a recorded memory.grow failure is forced on replay: -1 and no growth', async (t) => {
  const machine = await boot(GROW_MODULE, MemoryTape.replay(grew(-1)))
  await machine.run()
  const view = new DataView(machine.memory.buffer)
  t.is(view.getInt32(0, true), -1)
  t.is(view.getInt32(4, true), 1)
  t.is(machine.memory.buffer.byteLength, 65536)
})

test('a replayed memory.grow may wait for its entry (the guest unwinds and resumes)', async (t) => {
  const machine = await boot(GROW_MODULE, MemoryTape.replay(grew(1), 20))
  await machine.run()
  const view = new DataView(machine.memory.buffer)
  t.is(view.getInt32(0, true), 1)
  t.is(view.getInt32(4, true), 3)
})

test('a replayed memory.grow from another size is a divergence', async (t) => {
  const machine = await boot(GROW_MODULE, MemoryTape.replay(grew(4)))
  const err = await t.throwsAsync(machine.run(), { instanceOf: DivergenceError })
  t.regex(err?.message ?? '', /memory\.grow\(2\) from 4 pages, got memory\.grow\(2\) from 1 pages/)
})

test('the instrumented module is cached on disk and a second load does not instrument again', async (t) => {
  const dir = join(cacheDir, 'cache-test')
  const options = { supportedImports: { wasi_snapshot_preview1: WASI }, pausableImports: [], cacheDir: dir }
  const first = await loadModule(GROW_MODULE, options)
  t.false(first.fromCache)
  t.true(first.cacheFile !== undefined && existsSync(first.cacheFile))
  t.true(first.timing.instrument > 0)
  const second = await loadModule(GROW_MODULE, options)
  t.true(second.fromCache)
  t.is(second.timing.instrument, 0)
  t.is(second.instrumentedHash, first.instrumentedHash)
  // Other instrumentation options are another entry.
  const third = await loadModule(GROW_MODULE, { ...options, instrument: { stackBudget: 1 << 20 } })
  t.false(third.fromCache)
})

test('a damaged cache entry is rebuilt, not trusted', async (t) => {
  const dir = join(cacheDir, 'damaged')
  const options = { supportedImports: { wasi_snapshot_preview1: WASI }, pausableImports: [], cacheDir: dir }
  const first = await loadModule(GROW_MODULE, options)
  if (first.cacheFile === undefined) return t.fail('no cache file')
  await writeFile(first.cacheFile, new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))
  const second = await loadModule(GROW_MODULE, options)
  t.false(second.fromCache)
  t.is(second.instrumentedHash, first.instrumentedHash)
})

test('a cache hit still checks imports against the caller’s supported set', async (t) => {
  const bytes =
    wat(`(module (import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))
    (memory (export "memory") 1) (func (export "_start")))`)
  const dir = join(cacheDir, 'imports')
  await loadModule(bytes, {
    supportedImports: { wasi_snapshot_preview1: WASI },
    pausableImports: [],
    cacheDir: dir,
  })
  await t.throwsAsync(
    loadModule(bytes, {
      supportedImports: { wasi_snapshot_preview1: ['fd_write'] },
      pausableImports: [],
      cacheDir: dir,
    }),
    { instanceOf: InvalidModuleError, message: /random_get/ },
  )
})

const RECURSE_MODULE = wat(`(module (memory (export "memory") 1)
  (func $down (param $n i32) (result i32)
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (i32.add (local.get $n) (call $down (i32.add (local.get $n) (i32.const 1)))))
  (func (export "_start") (drop (call $down (i32.const 0)))))`)

test('runaway recursion ends in a stack-overflow outcome at the same depth in both V8 tiers', async (t) => {
  const wasm = join(cacheDir, 'recurse.wasm')
  await writeFile(wasm, RECURSE_MODULE)
  const child = join(import.meta.dirname, 'fixtures', 'overflow-child.ts')
  const runs = await Promise.all(
    [['--liftoff-only'], ['--no-liftoff'], ['--liftoff-only', '--stack-size=2000']].map(async (flags) => {
      const { stdout } = await run(process.execPath, [...flags, child, wasm, cacheDir])
      return JSON.parse(stdout) as { outcome: unknown; digest: string; counter: number }
    }),
  )
  const [liftoff, turbofan, bigStack] = runs
  t.deepEqual(liftoff?.outcome, { kind: 'stack-overflow' })
  t.true((liftoff?.counter ?? 0) > 1000, `recursed ${liftoff?.counter} times`)
  t.deepEqual(turbofan, liftoff)
  t.deepEqual(bigStack, liftoff)
})
