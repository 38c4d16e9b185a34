/**
 * A WasiHost with a one-page memory, for calling imports directly the way a
 * guest would (i32 as numbers, i64 as bigints).
 */
import { LiveTape } from '../../../src/replay/live-tape.ts'
import type { Tape } from '../../../src/replay/types.ts'
import type { InputSource, WasiImport } from '../../../src/replay/wasi/index.ts'
import { VirtualDisk, WasiHost } from '../../../src/replay/wasi/index.ts'
import { collector } from './guest-runner.ts'

export const PREOPEN = 3
export const PATH = 1024
export const IOVS = 2048
export const BUF = 4096
export const RET = 512

export interface HostSetup {
  host: WasiHost
  disk: VirtualDisk
  memory: WebAssembly.Memory
  w: Record<string, WasiImport>
  out: ReturnType<typeof collector>
  view: () => DataView
  /** Writes a path at PATH; returns [ptr, len] to pass on. */
  path: (s: string | Uint8Array) => [number, number]
  /** One iovec at IOVS over `len` bytes at BUF; returns [iovs, 1]. */
  iov: (len: number, data?: Uint8Array) => [number, number]
  bytes: (ptr: number, len: number) => Uint8Array
  u32: (ptr: number) => number
  u64: (ptr: number) => bigint
}

export function setupHost(
  options: { tape?: Tape; stdin?: InputSource; signal?: AbortSignal; disk?: VirtualDisk } = {},
): HostSetup {
  const disk = options.disk ?? new VirtualDisk()
  if (options.disk === undefined) {
    disk.makeDirectory('/sub')
    disk.writeFile('/file.txt', new TextEncoder().encode('hello'))
  }
  const memory = new WebAssembly.Memory({ initial: 1 })
  const out = collector()
  const host = new WasiHost({
    args: ['prog', 'arg'],
    env: [['K', 'V']],
    disk,
    preopens: [{ guestPath: '/', diskPath: '/' }],
    tape: options.tape ?? new LiveTape(),
    stdin: options.stdin,
    stdout: out.sink,
    signal: options.signal,
  })
  host.setMemory(memory)
  const view = () => new DataView(memory.buffer)
  return {
    host,
    disk,
    memory,
    w: host.imports,
    out,
    view,
    path: (s) => {
      const b = typeof s === 'string' ? new TextEncoder().encode(s) : s
      new Uint8Array(memory.buffer).set(b, PATH)
      return [PATH, b.length]
    },
    iov: (len, data) => {
      if (data !== undefined) new Uint8Array(memory.buffer).set(data, BUF)
      view().setUint32(IOVS, BUF, true)
      view().setUint32(IOVS + 4, len, true)
      return [IOVS, 1]
    },
    bytes: (ptr, len) => new Uint8Array(memory.buffer).slice(ptr, ptr + len),
    u32: (ptr) => view().getUint32(ptr, true),
    u64: (ptr) => view().getBigUint64(ptr, true),
  }
}

/** Opens `path` under the preopen; returns the errno and the new fd. */
export function open(
  s: HostSetup,
  path: string,
  { oflags = 0, rights = 0x3fffffffn, fdflags = 0, follow = 1 } = {},
): { errno: number; fd: number } {
  const errno = s.w.path_open!(
    PREOPEN,
    follow,
    ...s.path(path),
    oflags,
    rights,
    rights,
    fdflags,
    RET,
  ) as number
  return { errno, fd: s.u32(RET) }
}
