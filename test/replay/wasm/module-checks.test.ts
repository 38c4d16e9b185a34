import test from 'ava'
import binaryen from 'binaryen'
import { InvalidModuleError } from '../../../src/errors/index.ts'
import { loadModule } from '../../../src/replay/wasm/index.ts'
import { WASI, wat } from './wat.ts'

const load = (bytes: Uint8Array, entry?: string) =>
  loadModule(bytes, {
    supportedImports: { wasi_snapshot_preview1: WASI },
    pausableImports: [],
    cacheDir: null,
    ...(entry === undefined ? {} : { entry }),
  })

const rejects = async (
  t: import('ava').ExecutionContext,
  bytes: Uint8Array,
  pattern: RegExp,
  entry?: string,
) => {
  const err = await t.throwsAsync(load(bytes, entry), { instanceOf: InvalidModuleError })
  t.is(err?.code, 'ERR_INVALID_MODULE')
  t.regex(err?.message ?? '', pattern)
}

const start = '(memory (export "memory") 1) (func (export "_start"))'

test('garbage bytes are refused as not a WebAssembly module, naming what they start with', async (t) => {
  await rejects(
    t,
    new TextEncoder().encode('#!/bin/sh\necho hi\n'),
    /not a WebAssembly module: .*23 21 2f 62/,
  )
})

test('an empty file is refused as not a WebAssembly module', async (t) => {
  await rejects(t, new Uint8Array(0), /not a WebAssembly module.*empty/)
})

test('a component-model binary is told apart from a core module', async (t) => {
  await rejects(
    t,
    new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 0x01, 0]),
    /WebAssembly component .*wasm32-wasip1/,
  )
})

test('a truncated module is rejected as malformed', async (t) => {
  const good = wat(`(module ${start})`)
  await rejects(
    t,
    good.subarray(0, good.length - 2),
    /malformed WebAssembly module: section \d+ runs past the end/,
  )
})

test('a module V8 refuses is rejected with V8s reason', async (t) => {
  // Well-formed sections, but _start's body applies f32.neg to an i32.
  const bytes = new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
    ...[0x03, 0x02, 0x01, 0x00],
    ...[0x05, 0x03, 0x01, 0x00, 0x01],
    ...[0x07, 0x13, 0x02, 0x06, ...new TextEncoder().encode('_start'), 0x00, 0x00],
    ...[0x06, ...new TextEncoder().encode('memory'), 0x02, 0x00],
    ...[0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0x8c, 0x1a, 0x0b],
  ])
  await rejects(t, bytes, /the WebAssembly engine \(V8\) rejects the module: .*f32\.neg/)
})

test('a shared memory is rejected as threads', async (t) => {
  await rejects(
    t,
    wat('(module (memory (export "memory") 1 1 shared) (func (export "_start")))'),
    /shared memory \(threads\).*without threads/,
  )
})

test('atomic instructions are rejected as threads, naming the function', async (t) => {
  await rejects(
    t,
    wat(`(module (memory (export "memory") 1)
      (func $bump (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1))))
      (func (export "_start") (call $bump)))`),
    /atomic instructions \(threads\) \(i32\.atomic\.rmw\.add in function bump\)/,
  )
})

test('relaxed SIMD is rejected, naming the instruction', async (t) => {
  await rejects(
    t,
    wat(`(module (memory (export "memory") 1)
      (func $fma (result v128) (f32x4.relaxed_madd (v128.const i32x4 1 2 3 4) (v128.const i32x4 1 2 3 4) (v128.const i32x4 1 2 3 4)))
      (func (export "_start") (drop (call $fma))))`),
    /relaxed SIMD \(f32x4\.relaxed_madd in function fma\).*depend on the CPU/,
  )
})

test('a relaxed SIMD binary op is rejected too', async (t) => {
  await rejects(
    t,
    wat(`(module (memory (export "memory") 1)
      (func (export "_start") (drop (i8x16.relaxed_swizzle (v128.const i32x4 1 2 3 4) (v128.const i32x4 1 2 3 4)))))`),
    /relaxed SIMD \(i8x16\.relaxed_swizzle/,
  )
})

test('an import from another module is rejected, naming the module and the import', async (t) => {
  await rejects(
    t,
    wat(`(module (import "env" "now" (func (result i64))) ${start})`),
    /imports function "env" "now", but module "env" is not provided: .*"wasi_snapshot_preview1"/,
  )
})

test('a WASI function outside the supported set is rejected, naming it', async (t) => {
  await rejects(
    t,
    wat(
      `(module (import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32))) ${start})`,
    ),
    /imports function "wasi_snapshot_preview1" "sock_accept", which understudy does not implement \(supported from "wasi_snapshot_preview1": clock_time_get, fd_read/,
  )
})

test('an imported memory is rejected', async (t) => {
  await rejects(
    t,
    wat('(module (import "env" "memory" (memory 1)) (export "memory" (memory 0)) (func (export "_start")))'),
    /imports a memory \("env" "memory"\)/,
  )
})

test('the reserved "understudy" import module is refused to guests', async (t) => {
  await rejects(
    t,
    wat(`(module (import "understudy" "memory_grow" (func (param i32) (result i32))) ${start})`),
    /reserved/,
  )
})

test('a module without _start is rejected as not a command', async (t) => {
  await rejects(t, wat('(module (memory (export "memory") 1) (func (export "main")))'), /no "_start" export/)
})

test('the caller can name another entry export', async (t) => {
  const loaded = await load(wat('(module (memory (export "memory") 1) (func (export "main")))'), 'main')
  t.is(loaded.entry, 'main')
})

test('a module that does not export its memory is rejected', async (t) => {
  await rejects(
    t,
    wat('(module (memory 1) (func (export "_start")))'),
    /does not export its memory as "memory"/,
  )
})

test('a start function is rejected (it would run again on restore)', async (t) => {
  await rejects(
    t,
    wat('(module (memory (export "memory") 1) (func $init) (start $init) (func (export "_start")))'),
    /start function/,
  )
})

test('WebAssembly exceptions are rejected', async (t) => {
  await rejects(
    t,
    wat(`(module (memory (export "memory") 1) (tag $e)
      (func (export "_start") (try (do (throw $e)) (catch_all))))`),
    /WebAssembly exceptions/,
  )
})

test('a guest that changes its table at run time is rejected', async (t) => {
  await rejects(
    t,
    wat(`(module (memory (export "memory") 1) (table $t 1 funcref)
      (func (export "_start") (drop (table.grow $t (ref.null func) (i32.const 1)))))`),
    /change a table at run time/,
  )
})

test('tail calls are rejected', async (t) => {
  await rejects(
    t,
    wat(`(module (memory (export "memory") 1) (func $f) (func (export "_start") (return_call $f)))`),
    /tail calls/,
  )
})

test('a plain MVP module with SIMD and bulk memory loads', async (t) => {
  const loaded = await load(
    wat(
      `(module (memory (export "memory") 1)
      (func (export "_start") (memory.fill (i32.const 0) (i32.const 1) (i32.const 8))
        (v128.store (i32.const 16) (i32x4.add (v128.load (i32.const 0)) (v128.const i32x4 1 1 1 1)))))`,
      binaryen.Features.SIMD128 | binaryen.Features.BulkMemory,
    ),
  )
  t.is(loaded.hash.length, 64)
  t.false(loaded.fromCache)
})

test('other proposals (GC here) are caught by the feature whitelist', async (t) => {
  await rejects(
    t,
    wat(`(module (type $point (struct (field i32)))
      (memory (export "memory") 1)
      (func (export "_start") (drop (struct.new $point (i32.const 1)))))`),
    /features understudy does not support|StructNew instructions/,
  )
})
