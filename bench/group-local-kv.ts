/**
 * The kv guest run by the machine alone, in this process: the same instrumented module and WASI host
 * an agent runs, with a LiveTape (nothing recorded, nothing persisted, no control API, no group). What
 * a request costs here is the floor under every figure of output-commit.ts. Not a benchmark itself.
 */
import { StdinQueue } from '../src/agent/replica/stdin-queue.ts'
import { LiveTape } from '../src/replay/live-tape.ts'
import { PAUSABLE_WASI_IMPORTS } from '../src/replay/session.ts'
import { VirtualDisk, WasiHost } from '../src/replay/wasi/index.ts'
import { WasmMachine } from '../src/replay/wasm/index.ts'

/** Per-request ms of `count` sequential `SET k v` + `GET k` requests, after `warmup` unmeasured ones. */
export async function localKvLatencies(image: Uint8Array, count: number, warmup: number): Promise<number[]> {
  const stdin = new StdinQueue()
  const tape = new LiveTape()
  const disk = new VirtualDisk()
  disk.makeDirectory('/0')
  let expected: { line: string; resolve: () => void } | undefined
  let partial = ''
  const host = new WasiHost({
    args: ['kv', '/data'],
    env: [],
    disk,
    preopens: [{ guestPath: '/data', diskPath: '/0' }],
    tape,
    stdin,
    stdout: (bytes) => {
      const lines = (partial + Buffer.from(bytes).toString()).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) if (line === expected?.line) expected.resolve()
    },
  })
  const machine = await WasmMachine.boot(image, { host, tape }, { pausableImports: PAUSABLE_WASI_IMPORTS })
  const running = machine.run()
  const latencies: number[] = []
  for (let i = 0; i < warmup + count; i++) {
    const value = `local-${i}`
    const { promise, resolve } = Promise.withResolvers<void>()
    expected = { line: value, resolve }
    const started = performance.now()
    stdin.push(Buffer.from(`SET k${i} ${value}\nGET k${i}\n`))
    await promise
    if (i >= warmup) latencies.push(performance.now() - started)
  }
  stdin.end()
  const result = await running
  if (result.kind !== 'ended' || result.outcome.kind !== 'exit' || result.outcome.code !== 0) {
    throw new Error(`the local kv run did not end cleanly: ${JSON.stringify(result)}`)
  }
  return latencies
}
