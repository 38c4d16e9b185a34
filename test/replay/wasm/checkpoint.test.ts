import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import test from 'ava'
import { compileGuest } from '../../../scripts/compile-guest.ts'
import { CheckpointError } from '../../../src/errors/index.ts'
import {
  CHECKPOINT_FORMAT_VERSION,
  type Checkpoint,
  decodeCheckpoint,
  encodeCheckpoint,
  readCheckpoint,
  toolVersions,
  WasmMachine,
  writeCheckpoint,
} from '../../../src/replay/wasm/index.ts'
import { FakeWasi } from './fake-wasi.ts'
import { LINES_PAUSABLE, LINES_SOURCE } from './fixtures/lines-guest.ts'
import { MemoryTape } from './memory-tape.ts'
import { tinyHost } from './tiny-host.ts'
import { wat } from './wat.ts'

const run = promisify(execFile)
const LINES = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf'].map((l) => `${l}\n`)

let dir: string
let image: Uint8Array
let wasmPath: string
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'understudy-ckpt-'))
  wasmPath = await compileGuest(LINES_SOURCE, join(dir, 'lines.wasm'))
  image = await readFile(wasmPath)
})
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true })
})

const boot = (host: FakeWasi) =>
  WasmMachine.boot(
    image,
    { host, tape: MemoryTape.record() },
    { pausableImports: LINES_PAUSABLE, cacheDir: dir },
  )

/** Answers each read a little later, as a terminal would. */
const feedSlowly = (host: FakeWasi, lines: string[], onWait?: (linesRead: number) => void) => {
  host.onWait = () => {
    onWait?.(host.linesRead)
    setTimeout(() => {
      const next = lines[host.linesRead]
      if (next === undefined) host.end()
      else host.feed(next)
    }, 2)
  }
}

test('a guest paused mid-wait and restored in another process ends exactly as an uninterrupted run', async (t) => {
  const straightHost = new FakeWasi()
  feedSlowly(straightHost, LINES)
  const straight = await (await boot(straightHost)).run()
  if (straight.kind !== 'ended') return t.fail('the uninterrupted run paused')
  t.regex(straightHost.stdout, /^1 alpha [0-9a-f]{16} /)
  t.regex(straightHost.stdout, /done 7 /)

  const host = new FakeWasi()
  const machine = await boot(host)
  feedSlowly(host, LINES, (linesRead) => {
    if (linesRead === 3) machine.requestPause()
  })
  const paused = await machine.run()
  t.like(paused, { kind: 'paused', at: { call: 'wasi_snapshot_preview1.fd_read' } })
  t.deepEqual(host.abandoned, ['wasi_snapshot_preview1.fd_read'])
  t.is(host.linesRead, 3)
  const path = join(dir, 'mid-wait.ckpt')
  const tapeBlob = new TextEncoder().encode('position 5')
  const summary = await machine.saveCheckpoint(path, tapeBlob)
  t.deepEqual(
    await readdir(dir).then((names) => names.filter((n) => n.endsWith('.tmp'))),
    [],
    'no temporary file left',
  )
  t.true(summary.bytes > 3 * 192 * 1024, 'the allocated blocks are in the checkpoint')
  t.deepEqual((await readCheckpoint(path)).tape, tapeBlob)

  const { stdout } = await run(process.execPath, [
    join(import.meta.dirname, 'fixtures', 'restore-child.ts'),
    wasmPath,
    path,
    dir,
    JSON.stringify(LINES),
  ])
  const restored = JSON.parse(stdout) as {
    fromCache: boolean
    outcome: unknown
    digest: string
    stdout: string
  }
  t.true(restored.fromCache, 'the restoring process used the cached instrumented module')
  t.deepEqual(restored.outcome, straight.outcome)
  t.is(restored.stdout, straightHost.stdout)
  t.is(restored.digest, Buffer.from(straight.digest).toString('hex'))
})

test('a checkpoint can be restored and resumed in the same process too', async (t) => {
  const host = new FakeWasi()
  const machine = await boot(host)
  host.feed(...LINES.slice(0, 2))
  host.onWait = () => machine.requestPause()
  const paused = await machine.run()
  t.is(paused.kind, 'paused')
  const cp = decodeCheckpoint(encodeCheckpoint(machine.captureCheckpoint(new Uint8Array())))
  let restoredHost: FakeWasi | undefined
  const restored = await WasmMachine.restore(
    image,
    cp,
    (saved) => {
      restoredHost = FakeWasi.fromSnapshot(saved.host)
      return { host: restoredHost, tape: MemoryTape.record() }
    },
    { pausableImports: LINES_PAUSABLE, cacheDir: dir },
  )
  t.deepEqual(restored.stateDigest(), machine.stateDigest())
  restoredHost?.feed(...LINES.slice(2))
  restoredHost?.end()
  const result = await restored.run()
  t.deepEqual(result.kind === 'ended' && result.outcome.kind, 'exit')
  t.regex(restoredHost?.stdout ?? '', /^1 alpha.*\n2 bravo.*\n3 charlie.*done 7 /s)
})

const sampleCheckpoint = (): Checkpoint => {
  const page = (fill: number) => new Uint8Array(65536).fill(fill)
  return {
    moduleHash: 'a'.repeat(64),
    instrumentedHash: 'b'.repeat(64),
    tools: toolVersions(),
    entry: '_start',
    pausedAt: { module: 'wasi_snapshot_preview1', name: 'clock_time_get', args: [1, 1000n, 16] },
    digest: new Uint8Array(32).fill(9),
    memory: {
      byteLength: 4 * 65536,
      pages: [
        { index: 1, bytes: page(1) },
        { index: 3, bytes: page(3) },
      ],
    },
    asyncifyMemory: { byteLength: 65536, pages: [{ index: 0, bytes: page(7) }] },
    globals: [
      { name: '__stack_pointer', type: 'i32', value: -5 },
      { name: 'g64', type: 'i64', value: -(2n ** 40n) },
      { name: 'f', type: 'f64', value: 1.5 },
    ],
    host: new TextEncoder().encode('host state'),
    tape: new TextEncoder().encode('tape position'),
  }
}

test('a checkpoint round-trips through its file format, zero pages left out', async (t) => {
  const cp = sampleCheckpoint()
  const path = join(dir, 'sample.ckpt')
  const { bytes } = await writeCheckpoint(path, cp)
  t.true(bytes < 4 * 65536, 'two of four memory pages are zero and not stored')
  const back = await readCheckpoint(path)
  t.deepEqual(back, cp)
})

test('a corrupt checkpoint is refused with the reason', async (t) => {
  const good = encodeCheckpoint(sampleCheckpoint())
  const flipped = good.slice()
  flipped[100_000] = (flipped[100_000] ?? 0) ^ 1
  t.throws(() => decodeCheckpoint(flipped), {
    instanceOf: CheckpointError,
    message: /corrupt \(checksum mismatch\)/,
  })
  t.throws(() => decodeCheckpoint(good.subarray(0, 10)), {
    instanceOf: CheckpointError,
    message: /truncated/,
  })
  t.throws(() => decodeCheckpoint(new TextEncoder().encode('PK\u0003\u0004 not a checkpoint at all')), {
    instanceOf: CheckpointError,
    message: /not an understudy checkpoint/,
  })
  const newer = good.slice()
  new DataView(newer.buffer).setUint32(8, CHECKPOINT_FORMAT_VERSION + 1, true)
  t.throws(() => decodeCheckpoint(newer), {
    instanceOf: CheckpointError,
    message: /newer understudy \(format v2/,
  })
  await t.throwsAsync(readCheckpoint(join(dir, 'missing.ckpt')), {
    instanceOf: CheckpointError,
    message: /cannot read checkpoint/,
  })
})

test('a checkpoint file damaged in its memory pages is refused on restore', async (t) => {
  const host = new FakeWasi()
  const machine = await boot(host)
  host.feed(LINES[0] ?? '')
  host.onWait = () => machine.requestPause()
  await machine.run()
  const path = join(dir, 'damaged.ckpt')
  const { bytes } = await machine.saveCheckpoint(path, new Uint8Array())
  const file = await readFile(path)
  file[bytes - 40_000] = (file[bytes - 40_000] ?? 0) ^ 0x10
  await writeFile(path, file)
  await t.throwsAsync(
    WasmMachine.restore(
      image,
      path,
      (saved) => ({ host: FakeWasi.fromSnapshot(saved.host), tape: MemoryTape.record() }),
      {
        pausableImports: LINES_PAUSABLE,
        cacheDir: dir,
      },
    ),
    { instanceOf: CheckpointError, message: /corrupt \(checksum mismatch\)/ },
  )
  await writeFile(path, file.subarray(0, bytes - 100))
  await t.throwsAsync(
    WasmMachine.restore(
      image,
      path,
      (saved) => ({ host: FakeWasi.fromSnapshot(saved.host), tape: MemoryTape.record() }),
      {
        pausableImports: LINES_PAUSABLE,
        cacheDir: dir,
      },
    ),
    { instanceOf: CheckpointError, message: /truncated/ },
  )
})

test('a checkpoint of another module is refused', async (t) => {
  const host = new FakeWasi()
  const machine = await boot(host)
  machine.requestPause()
  await machine.run()
  const path = join(dir, 'other.ckpt')
  await machine.saveCheckpoint(path, new Uint8Array())
  const other = wat('(module (memory (export "memory") 1) (func (export "_start")))')
  await t.throwsAsync(
    WasmMachine.restore(other, path, () => ({ host: tinyHost(), tape: MemoryTape.record() }), {
      pausableImports: [],
      cacheDir: dir,
    }),
    { instanceOf: CheckpointError, message: /not of this module/ },
  )
})

test('a host that does not come back whole from its snapshot is caught at restore', async (t) => {
  const host = new FakeWasi()
  const machine = await boot(host)
  host.feed(LINES[0] ?? '')
  host.onWait = () => machine.requestPause()
  await machine.run()
  const path = join(dir, 'host.ckpt')
  await machine.saveCheckpoint(path, new Uint8Array())
  await t.throwsAsync(
    WasmMachine.restore(image, path, () => ({ host: new FakeWasi(), tape: MemoryTape.record() }), {
      pausableImports: LINES_PAUSABLE,
      cacheDir: dir,
    }),
    { instanceOf: CheckpointError, message: /does not match the checkpoint digest/ },
  )
})

test('a checkpoint file written over an existing one replaces it whole', async (t) => {
  const path = join(dir, 'replace.ckpt')
  await writeFile(path, 'old contents')
  await writeCheckpoint(path, sampleCheckpoint())
  t.deepEqual((await readCheckpoint(path)).tape, sampleCheckpoint().tape)
})
