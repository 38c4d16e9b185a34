/**
 * Checkpoint and restore time for a guest with 16 MiB and 256 MiB of
 * realistic memory (random data, text-like runs, about 10% zero pages),
 * paused while it waits for stdin. Checkpoint: digest, zero-page scan, write
 * and fsync. Restore: open, load (cache hit), instantiate, pages read into the
 * new memory, checksum, digest check. Both copies then finish and must agree.
 * Prints JSON.
 *
 *   npx node bench/checkpoint.ts [--quick]   (--quick: 16 MiB only)
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compileGuest } from '../scripts/compile-guest.ts'
import type { MaybePromise, Tape } from '../src/replay/types.ts'
import { type HostImports, WasmMachine } from '../src/replay/wasm/index.ts'

const quick = process.argv.includes('--quick')
const SIZES_MIB = quick ? [16] : [16, 256]

const source = (mib: number) => `#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
  size_t n = (size_t)${mib} << 20;
  unsigned char *p = malloc(n);
  uint64_t x = 88172645463325252ULL;
  for (size_t i = 0; i < n; i += 8) {
    size_t page = (uintptr_t)(p + i) >> 16;
    uint64_t v;
    if (page % 10 == 0) v = 0;
    else if (page % 3 == 0) v = 0x2065687420666f20ULL + (i & 0xff);
    else { x ^= x << 13; x ^= x >> 7; x ^= x << 17; v = x; }
    *(uint64_t *)(p + i) = v;
  }
  char line[64];
  if (!fgets(line, sizeof line, stdin)) return 1;
  uint64_t h = 0;
  for (size_t i = 0; i < n; i += 4096) h = h * 31 + p[i];
  printf("%s %llu\\n", line, (unsigned long long)h);
  return 0;
}
`

class Exit extends Error {
  readonly code: number
  constructor(code: number) {
    super(`exit ${code}`)
    this.name = 'ProcExit'
    this.code = code
  }
}

interface BenchHost extends HostImports {
  out: string
  feed(line: string): void
  waiting(): boolean
}

/** stdout, and a stdin that waits until a line is fed. */
function benchHost(state = { out: '', fed: '' }): BenchHost {
  let memory: WebAssembly.Memory | undefined
  let wake: (() => void) | undefined
  const view = () => new DataView((memory as WebAssembly.Memory).buffer)
  const host: BenchHost = {
    out: state.out,
    feed(line) {
      state.fed = line
      wake?.()
    },
    waiting: () => wake !== undefined,
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
      fd_read: (_fd: number, iovs: number, _n: number, read: number) => {
        const deliver = () => {
          const bytes = new TextEncoder().encode(state.fed)
          state.fed = ''
          new Uint8Array(view().buffer).set(bytes, view().getUint32(iovs, true))
          view().setUint32(read, bytes.length, true)
          return 0
        }
        if (state.fed !== '') return deliver()
        return new Promise<number>((resolve) => {
          wake = () => {
            wake = undefined
            resolve(deliver())
          }
        })
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
    snapshot: () => new TextEncoder().encode(JSON.stringify({ out: host.out, fed: state.fed })),
    abandon: () => {
      wake = undefined
    },
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

const ms = (t: number) => Math.round((performance.now() - t) * 10) / 10
const options = (cacheDir: string) => ({ pausableImports: ['fd_read', 'fd_write'], cacheDir })

const work = await mkdtemp(join(tmpdir(), 'understudy-bench-'))
try {
  const results: Record<string, unknown> = {}
  for (const mib of SIZES_MIB) {
    const src = join(work, `fill${mib}.c`)
    await writeFile(src, source(mib))
    const image = await readFile(await compileGuest(src, join(work, `fill${mib}.wasm`)))
    const cacheDir = join(work, 'cache')

    const host = benchHost()
    const machine = await WasmMachine.boot(image, { host, tape: nullTape }, options(cacheDir))
    const running = machine.run()
    while (!host.waiting()) await new Promise((r) => setTimeout(r, 5))
    machine.requestPause()
    const paused = await running
    if (paused.kind !== 'paused') throw new Error('the guest did not pause')

    let t = performance.now()
    const digest = machine.stateDigest()
    const digestMs = ms(t)
    const path = join(work, `fill${mib}.ckpt`)
    t = performance.now()
    const saved = await machine.saveCheckpoint(path, new Uint8Array(16))
    const saveMs = ms(t)
    t = performance.now()
    const copy = machine.captureCheckpoint(new Uint8Array(16))
    const captureCopyMs = ms(t)

    t = performance.now()
    let restoredHost: BenchHost | undefined
    const restored = await WasmMachine.restore(
      image,
      path,
      (blobs) => {
        restoredHost = benchHost(JSON.parse(new TextDecoder().decode(blobs.host)))
        return { host: restoredHost, tape: nullTape }
      },
      options(cacheDir),
    )
    const restoreMs = ms(t)
    if (!Buffer.from(restored.stateDigest()).equals(digest)) throw new Error('restored digest differs')

    // Both copies finish identically.
    host.feed('go\n')
    restoredHost?.feed('go\n')
    const [a, b] = await Promise.all([machine.run(), restored.run()])
    if (a.kind !== 'ended' || b.kind !== 'ended' || !Buffer.from(a.digest).equals(b.digest)) {
      throw new Error('the restored guest ended differently')
    }

    const memoryBytes = copy.memory.byteLength
    results[`${mib}MiB`] = {
      memoryBytes,
      nonZeroPages: copy.memory.pages.length,
      totalPages: memoryBytes / 65536,
      fileBytes: saved.bytes,
      digestMs,
      checkpointToFileMs: saveMs,
      restoreFromFileMs: restoreMs,
      captureInMemoryMs: captureCopyMs,
    }
  }
  console.log(JSON.stringify({ bench: 'checkpoint', node: process.versions.node, results }, null, 2))
} finally {
  await rm(work, { recursive: true, force: true })
}
