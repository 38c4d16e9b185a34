/**
 * Cost of the log per entry: recording (payload encode + frame + SHA-256 chain),
 * replay (chain verify + decode + compare), and the log file (write, read+verify),
 * each against a bare createHash('sha256') of the same bytes measured in the same run.
 *
 *   npx node bench/log-codec.ts
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LogBuffer } from '../src/replay/log/log-buffer.ts'
import { encodeEntry } from '../src/replay/log/log-codec.ts'
import { LogFileWriter, readLogFile } from '../src/replay/log/log-file.ts'
import { type EntrySink, Recorder } from '../src/replay/log/recorder.ts'
import { Replayer } from '../src/replay/log/replayer.ts'
import type { LogEntry } from '../src/replay/types.ts'

const ARGS = [1, 1000n] as const

/** Best rate of three runs of `n` operations, in operations per second. */
function rate(n: number, run: () => void): number {
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now()
    run()
    best = Math.min(best, performance.now() - t0)
  }
  return Math.round((n / best) * 1000)
}

async function rateAsync(n: number, run: () => Promise<void>): Promise<number> {
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now()
    await run()
    best = Math.min(best, performance.now() - t0)
  }
  return Math.round((n / best) * 1000)
}

function recordEntries(n: number, result: Uint8Array): LogEntry[] {
  const buffer = new LogBuffer()
  const recorder = new Recorder({ sink: buffer })
  for (let i = 0; i < n; i++) recorder.call('clock_time_get', ARGS, () => result)
  return [...buffer.entries]
}

async function measure(label: string, resultBytes: number, n: number, dir: string) {
  const result = new Uint8Array(resultBytes).fill(7)
  const discard: EntrySink = { append() {} }
  // warm up the JIT on every path
  recordEntries(Math.min(n, 2000), result)

  const record = rate(n, () => {
    const recorder = new Recorder({ sink: discard })
    for (let i = 0; i < n; i++) recorder.call('clock_time_get', ARGS, () => result)
  })

  const entries = recordEntries(n, result)
  const replay = rate(n, () => {
    const replayer = new Replayer({ source: LogBuffer.of(entries) })
    for (let i = 0; i < n; i++) replayer.call('clock_time_get', ARGS, () => result)
  })

  // the baseline: hash exactly what the chain hashes (prev || frame), nothing else
  const hashed = entries.map((e) => Buffer.concat([e.prevHash, encodeEntry(e)]))
  const baseline = rate(n, () => {
    for (const b of hashed) createHash('sha256').update(b).digest()
  })

  const path = join(dir, `${label}.uslog`)
  const fileWrite = await rateAsync(n, async () => {
    const writer = new LogFileWriter(path)
    for (const e of entries) writer.append(e)
    await writer.close()
  })
  const fileRead = await rateAsync(n, async () => {
    const file = await readLogFile(path, { maxPayload: 1 << 20 })
    if (file.entries.length !== n) throw new Error('short read')
  })

  return {
    result_bytes: resultBytes,
    frame_bytes: hashed[0]!.length - 32,
    entries: n,
    record_per_s: record,
    record_us: round(1e6 / record),
    replay_verify_per_s: replay,
    replay_us: round(1e6 / replay),
    file_write_per_s: fileWrite,
    file_read_verify_per_s: fileRead,
    baseline_sha256_per_s: baseline,
    record_vs_sha256: round(record / baseline),
    replay_vs_sha256: round(replay / baseline),
    file_read_vs_sha256: round(fileRead / baseline),
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}

const dir = mkdtempSync(join(tmpdir(), 'uslog-bench-'))
try {
  const small = await measure('call16', 16, 100_000, dir)
  const large = await measure('call64k', 64 * 1024, 2_000, dir)
  console.log(
    JSON.stringify({
      bench: 'log-codec',
      node: process.version,
      note: 'rates are entries/s; *_vs_sha256 = rate / rate of a bare createHash(sha256) of prev||frame',
      call_16b: small,
      call_64k: large,
    }),
  )
} finally {
  rmSync(dir, { recursive: true, force: true })
}
