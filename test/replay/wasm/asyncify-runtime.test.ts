import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { ProcExit as WasiProcExit } from '../../../src/replay/wasi/wasi-error.ts'
import { AsyncifyError, type HostFunction, WasmMachine } from '../../../src/replay/wasm/index.ts'
import { ProcExit } from './fake-wasi.ts'
import { MemoryTape } from './memory-tape.ts'
import { tinyHost } from './tiny-host.ts'
import { wat } from './wat.ts'

let cacheDir: string
test.before(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'understudy-wasm-'))
})
test.after.always(async () => {
  await rm(cacheDir, { recursive: true, force: true })
})

// Calls the import twice and stores its results at 0 and 4.
const TWO_CALLS = wat(`(module
  (import "wasi_snapshot_preview1" "fd_read" (func $call (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $store (param $at i32) (param $base i32)
    (i32.store (local.get $at) (call $call (local.get $base) (i32.const 2) (i32.const 3) (i32.const 4))))
  (func (export "_start")
    (call $store (i32.const 0) (i32.const 1))
    (call $store (i32.const 4) (i32.const 5))))`)

const boot = (fd_read: HostFunction, pausable = ['fd_read'], abandon?: (call: string) => void) => {
  const host = tinyHost({ fd_read })
  if (abandon !== undefined) host.abandon = abandon
  const tape = MemoryTape.record()
  return WasmMachine.boot(TWO_CALLS, { host, tape }, { pausableImports: pausable, cacheDir }).then(
    (machine) => ({
      machine,
      tape,
    }),
  )
}

const stored = (machine: WasmMachine) => {
  const view = new DataView(machine.memory.buffer)
  return [view.getInt32(0, true), view.getInt32(4, true)]
}

test('a guest waits for an import’s Promise without blocking the event loop', async (t) => {
  const events: string[] = []
  const { machine } = await boot(
    (a: number, b: number, c: number, d: number) =>
      new Promise((resolve) =>
        setTimeout(() => {
          events.push(`resolved ${a}`)
          resolve(a + b + c + d)
        }, 40),
      ),
  )
  setTimeout(() => events.push('timer'), 5)
  const result = await machine.run()
  t.deepEqual(result.kind === 'ended' && result.outcome, { kind: 'exit', code: 0 })
  t.deepEqual(stored(machine), [10, 14])
  t.deepEqual(events, ['timer', 'resolved 1', 'resolved 5'])
})

test('an import that is not pausable may not return a Promise', async (t) => {
  const { machine } = await boot(() => Promise.resolve(1), [])
  await t.throwsAsync(machine.run(), { instanceOf: AsyncifyError, message: /fd_read returned a Promise/ })
  t.is(machine.status, 'failed')
})

test('a pause stops the guest before the next pausable import runs, and resuming runs it', async (t) => {
  const calls: number[] = []
  const { machine } = await boot((a: number) => {
    calls.push(a)
    return a * 100
  })
  machine.requestPause()
  const paused = await machine.run()
  t.deepEqual(paused, { kind: 'paused', at: { call: 'wasi_snapshot_preview1.fd_read', args: [1, 2, 3, 4] } })
  t.deepEqual(calls, [], 'the import has not run')
  t.is(machine.status, 'paused')
  const ended = await machine.run()
  t.is(ended.kind, 'ended')
  t.deepEqual(calls, [1, 5])
  t.deepEqual(stored(machine), [100, 500])
})

test('a pause while blocked abandons the wait; the import runs afresh on resume', async (t) => {
  const calls: number[] = []
  const abandoned: string[] = []
  let block = true
  const { machine } = await boot(
    (a: number) => {
      calls.push(a)
      if (block && a === 5) return new Promise(() => {}) // never answers
      return a
    },
    ['fd_read'],
    (call) => abandoned.push(call),
  )
  const running = machine.run()
  while (!machine.blocked) await new Promise((r) => setTimeout(r, 1))
  machine.requestPause()
  const paused = await running
  t.deepEqual(paused, { kind: 'paused', at: { call: 'wasi_snapshot_preview1.fd_read', args: [5, 2, 3, 4] } })
  t.deepEqual(abandoned, ['wasi_snapshot_preview1.fd_read'])
  block = false
  const ended = await machine.run()
  t.is(ended.kind, 'ended')
  t.deepEqual(calls, [1, 5, 5])
  t.deepEqual(stored(machine), [1, 5])
})

test('an aborted signal pauses the run', async (t) => {
  const { machine } = await boot((a: number) => a)
  const result = await machine.run({ signal: AbortSignal.abort() })
  t.is(result.kind, 'paused')
})

test('proc_exit ends the run with its exit code, and the tape gets the outcome and digest', async (t) => {
  const { machine, tape } = await boot((a: number) => {
    if (a === 5) throw new ProcExit(7)
    return a
  })
  const result = await machine.run()
  if (result.kind !== 'ended') return t.fail('paused')
  t.deepEqual(result.outcome, { kind: 'exit', code: 7 })
  t.deepEqual(tape.exits, [{ outcome: { kind: 'exit', code: 7 }, digest: result.digest }])
  t.deepEqual(result.digest, machine.stateDigest())
})

test('proc_exit from an awaited import ends the run too', async (t) => {
  const { machine } = await boot(() => Promise.reject(new ProcExit(3)))
  const result = await machine.run()
  t.deepEqual(result.kind === 'ended' && result.outcome, { kind: 'exit', code: 3 })
})

test('a trap ends the run with a trap outcome and its message', async (t) => {
  const machine = await WasmMachine.boot(
    wat(
      '(module (memory (export "memory") 1) (func (export "_start") (drop (i32.div_s (i32.const 1) (i32.const 0)))))',
    ),
    { host: tinyHost(), tape: MemoryTape.record() },
    { pausableImports: [], cacheDir },
  )
  const result = await machine.run()
  t.deepEqual(result.kind === 'ended' && result.outcome, { kind: 'trap', message: 'divide by zero' })
})

test('a host error that is no outcome fails the run', async (t) => {
  const { machine } = await boot(() => {
    throw new TypeError('host bug')
  })
  await t.throwsAsync(machine.run(), { instanceOf: TypeError, message: 'host bug' })
  t.is(machine.status, 'failed')
})

test('a stack too deep for Asyncify’s memory fails the run with advice, not a guest trap', async (t) => {
  // 1500 frames, each keeping 8 i64 locals alive across the call: more than 64 KiB to unwind.
  const locals = Array.from({ length: 8 }, (_, i) => `(local $l${i} i64)`).join(' ')
  const sets = Array.from(
    { length: 8 },
    (_, i) => `(local.set $l${i} (i64.add (i64.extend_i32_u (local.get $n)) (i64.const ${i})))`,
  ).join(' ')
  const sum = Array.from({ length: 8 }, (_, i) => `(local.get $l${i})`).reduce(
    (a, b) => `(i64.add ${a} ${b})`,
    '(i64.const 0)',
  )
  const deep = wat(`(module
    (import "wasi_snapshot_preview1" "fd_read" (func $wait (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func $down (param $n i32) (result i64) ${locals}
      ${sets}
      (if (i32.eqz (local.get $n)) (then (drop (call $wait (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))))
      (if (result i64) (i32.eqz (local.get $n)) (then ${sum}) (else (i64.add ${sum} (call $down (i32.sub (local.get $n) (i32.const 1)))))))
    (func (export "_start") (drop (call $down (i32.const 1500)))))`)
  const machine = await WasmMachine.boot(
    deep,
    { host: tinyHost({ fd_read: () => Promise.resolve(0) }), tape: MemoryTape.record() },
    { pausableImports: ['fd_read'], cacheDir, instrument: { asyncifyStackBytes: 65536 } },
  )
  await t.throwsAsync(machine.run(), {
    instanceOf: AsyncifyError,
    message: /did not fit in Asyncify's 65536 bytes while pausing: raise asyncifyStackBytes/,
  })
})

test('the WASI host’s ProcExit (exitCode) is recognised as an exit', async (t) => {
  const { machine } = await boot(() => {
    throw new WasiProcExit(42)
  })
  const result = await machine.run()
  t.deepEqual(result.kind === 'ended' && result.outcome, { kind: 'exit', code: 42 })
})
