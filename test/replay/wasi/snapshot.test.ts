/**
 * Host state survives snapshot → fromSnapshot, and a tape's recorded results
 * are all a replaying host needs.
 */
import test from 'ava'
import { VirtualDisk, WasiHost } from '../../../src/replay/wasi/index.ts'
import {
  bufferSource,
  collector,
  loadFixture,
  makeSeed,
  RecordingTape,
  ReplayTape,
  removeAll,
  runStart,
  runVirtual,
  ScriptedTape,
  syncOnly,
} from './guest-runner.ts'

let seed: string
test.before(async () => {
  seed = await makeSeed()
})
test.after.always(() => removeAll(seed))

const stdinText = new TextEncoder().encode('alpha\nbeta\ngamma\n')

interface Reactor {
  host: WasiHost
  instance: WebAssembly.Instance
  phase: (n: number) => number
  memory: WebAssembly.Memory
}

function instantiate(module: WebAssembly.Module, host: WasiHost): Reactor {
  const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: syncOnly(host.imports) })
  const memory = instance.exports.memory as WebAssembly.Memory
  host.setMemory(memory)
  return { host, instance, memory, phase: instance.exports.phase as (n: number) => number }
}

test('a host restored from its snapshot between two guest calls continues exactly like the uninterrupted run', async (t) => {
  const module = await loadFixture('phases.c', ['-mexec-model=reactor'])
  const start = async (
    tape: ScriptedTape,
    stdin: ReturnType<typeof bufferSource>,
    sink: (b: Uint8Array) => void,
  ) => {
    const host = new WasiHost({
      args: ['phases'],
      env: [],
      disk: await VirtualDisk.fromHostDir(seed),
      preopens: [{ guestPath: '/sandbox', diskPath: '/' }],
      tape,
      stdin,
      stdout: sink,
    })
    const reactor = instantiate(module, host)
    ;(reactor.instance.exports._initialize as () => void)()
    return reactor
  }

  const straightOut = collector()
  const straight = await start(new ScriptedTape(), bufferSource(stdinText), straightOut.sink)
  for (const n of [1, 2, 3]) t.is(straight.phase(n), n)

  // Same run, but the VM moves to a new host and a new instance after phase 1.
  const tape = new ScriptedTape()
  const stdin = bufferSource(stdinText)
  const movedOut = collector()
  const first = await start(tape, stdin, movedOut.sink)
  first.phase(1)
  const hostState = first.host.snapshot()
  const memoryImage = new Uint8Array(first.memory.buffer).slice()
  t.deepEqual(WasiHost.fromSnapshot(hostState, { tape }).snapshot(), hostState, 'the snapshot round-trips')

  const host = WasiHost.fromSnapshot(hostState, { tape, stdin, stdout: movedOut.sink })
  const second = instantiate(module, host)
  second.memory.grow((memoryImage.length - second.memory.buffer.byteLength) / 65536)
  new Uint8Array(second.memory.buffer).set(memoryImage)
  host.setMemory(second.memory)
  t.is(second.phase(2), 2)
  t.is(second.phase(3), 3)

  t.is(movedOut.text(), straightOut.text())
  t.regex(movedOut.text(), /phase 2 rest of hello: world\n/)
  t.regex(movedOut.text(), /phase 2 unlinked scratch: scratch data\n/)
  t.regex(movedOut.text(), /phase 2 stdin: gamma\n/)
  t.deepEqual(host.snapshot(), straight.host.snapshot())
  t.deepEqual(host.disk.digest(), straight.host.disk.digest())
  t.is(host.disk.lookup('/scratch'), undefined)
})

test('replaying recorded call results reproduces a run with no stdin and no live source', async (t) => {
  const module = await loadFixture('stdio_env.c')
  const recording = new RecordingTape()
  const options = {
    args: ['stdio_env', '3'],
    env: [['GREETING', 'hi']] as [string, string][],
    stdin: 'one\ntwo\n',
  }
  const live = await runVirtual(module, seed, { ...options, tape: recording })
  t.true(recording.calls.some((c) => c.fn === 'fd_read'))
  t.true(recording.calls.some((c) => c.fn === 'clock_time_get'))
  t.true(recording.calls.some((c) => c.fn === 'random_get'))

  const replay = new ReplayTape(recording.calls)
  const out = collector()
  const host = new WasiHost({
    args: options.args,
    env: options.env,
    disk: await VirtualDisk.fromHostDir(seed),
    preopens: [{ guestPath: '/sandbox', diskPath: '/' }],
    tape: replay,
    stdout: out.sink,
  })
  const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: syncOnly(host.imports) })
  host.setMemory(instance.exports.memory as WebAssembly.Memory)
  t.is(runStart(instance), live.exitCode)
  t.is(out.text(), live.stdout)
  t.regex(out.text(), /line 2 reversed: owt\n/)
  t.is(replay.remaining, 0)
  t.deepEqual(host.digest(), live.host.digest())
})
