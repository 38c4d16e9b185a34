/**
 * What recording and replaying cost, against baselines measured in the same run:
 *
 *   reference  the uninstrumented module under node:wasi (Node's own WASI)
 *   plain      our machine (instrumented module, our WASI host) with a LiveTape: nothing recorded
 *   record     our machine recording into a log file (recordSession)
 *   replay     our machine replaying that log file (replaySession)
 *
 * Workloads: `compute clock N` (N import calls: the per-call overhead) and a
 * whole compute guest (hashing, sorting, an interpreter). Median of --runs.
 * Prints one JSON object.
 *
 *   npx node bench/record-replay.ts [--runs 5] [--calls 20000]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { WASI } from 'node:wasi'
import { buildGuest } from '../scripts/build-guests.ts'
import { LiveTape } from '../src/replay/live-tape.ts'
import { recordSession, replaySession } from '../src/replay/session.ts'
import { VirtualDisk, WasiHost } from '../src/replay/wasi/index.ts'
import { WasmMachine } from '../src/replay/wasm/index.ts'

const runs = numberFlag('--runs', 5)
const calls = numberFlag('--calls', 20000)
const dir = await mkdtemp(join(tmpdir(), 'understudy-bench-'))
const cacheDir = join(dir, 'cache')
const image = await buildGuest('compute')
const bytes = new Uint8Array(await readFile(image))

const workloads = {
  importCalls: ['compute', 'clock', String(calls)],
  wholeGuest: ['compute', 'hash', '2', 'sort', '20000', 'interp', '20000', 'calls', '22'],
}

const results: Record<string, unknown> = {}
try {
  for (const [name, args] of Object.entries(workloads)) {
    const reference = await median(() => runReference(args))
    const plain = await median(() => runPlain(args))
    let entries = 0
    const logPath = join(dir, `${name}.uslog`)
    const record = await median(async () => {
      const t0 = performance.now()
      const result = await recordSession({ imagePath: image, logPath, args, cacheDir, stdout: () => {} })
      entries = result.entries
      return performance.now() - t0
    })
    const replay = await median(async () => {
      const t0 = performance.now()
      await replaySession({ imagePath: image, logPath, cacheDir })
      return performance.now() - t0
    })
    results[name] = {
      args: args.slice(1).join(' '),
      entries,
      ms: { reference: round(reference), plain: round(plain), record: round(record), replay: round(replay) },
      ratios: {
        plain_vs_reference: round(plain / reference),
        record_vs_plain: round(record / plain),
        replay_vs_plain: round(replay / plain),
        replay_vs_record: round(replay / record),
      },
      ...(name === 'importCalls'
        ? { us_per_call: { plain: round((plain * 1000) / calls), record: round((record * 1000) / calls) } }
        : {}),
      replay_entries_per_s: Math.round(entries / (replay / 1000)),
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true })
}
console.log(JSON.stringify({ bench: 'record-replay', node: process.version, runs, calls, ...results }))

async function runPlain(args: string[]): Promise<number> {
  const t0 = performance.now()
  const tape = new LiveTape()
  const host = new WasiHost({ args, env: [], disk: new VirtualDisk(), preopens: [], tape, stdout: () => {} })
  const machine = await WasmMachine.boot(
    bytes,
    { host, tape },
    {
      pausableImports: ['clock_time_get', 'clock_res_get', 'random_get', 'fd_read', 'poll_oneoff'],
      cacheDir,
    },
  )
  const result = await machine.run()
  if (result.kind !== 'ended' || result.outcome.kind !== 'exit' || result.outcome.code !== 0) {
    throw new Error(`plain run failed: ${JSON.stringify(result)}`)
  }
  return performance.now() - t0
}

async function runReference(args: string[]): Promise<number> {
  const t0 = performance.now()
  const wasi = new WASI({ version: 'preview1', args, returnOnExit: true, stdout: 2 })
  const module = await WebAssembly.compile(bytes)
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject() as WebAssembly.Imports)
  const code = wasi.start(instance)
  if (code !== 0) throw new Error(`reference run exited ${code}`)
  return performance.now() - t0
}

/** One warm-up run, then the median of `runs`. */
async function median(fn: () => Promise<number>): Promise<number> {
  await fn()
  const times: number[] = []
  for (let i = 0; i < runs; i++) times.push(await fn())
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]!
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

function numberFlag(flag: string, fallback: number): number {
  const i = process.argv.indexOf(flag)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
