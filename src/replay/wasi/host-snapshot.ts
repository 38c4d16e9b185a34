/**
 * Deterministic encoding of the WASI host's state: start parameters, fd
 * table (kind, disk inode, offset, flags, rights, path), the last clock
 * values the guest saw, and the whole virtual disk. Live-side buffers
 * (stdin read-ahead, the host clock offset) are not state and are left out.
 */
import { ByteReader, ByteWriter } from './byte-codec.ts'
import type { FdKind } from './fd-table.ts'

export interface Preopen {
  /** The directory name the guest sees (fd_prestat_dir_name), e.g. '/' or '/data'. */
  guestPath: string
  /** The directory on the virtual disk it maps to, e.g. '/'. */
  diskPath: string
}

export interface FdState {
  fd: number
  kind: FdKind
  /** Inode on the disk (0 for stdio). */
  ino: number
  offset: number
  flags: number
  rightsBase: number
  rightsInheriting: number
  path: string
  preopen: boolean
}

export interface HostState {
  args: string[]
  env: [string, string][]
  preopens: Preopen[]
  lastRealtime: bigint | undefined
  lastMonotonic: bigint | undefined
  fds: FdState[]
  disk: Uint8Array
}

const MAGIC = 'USWH'
const VERSION = 1
const KINDS: readonly FdKind[] = ['stdin', 'stdout', 'stderr', 'file', 'directory']

export function encodeHostState(s: HostState): Uint8Array {
  const w = new ByteWriter()
  w.raw(new TextEncoder().encode(MAGIC)).u8(VERSION)
  w.u32(s.args.length)
  for (const a of s.args) w.string(a)
  w.u32(s.env.length)
  for (const [k, v] of s.env) w.string(k).string(v)
  w.u32(s.preopens.length)
  for (const p of s.preopens) w.string(p.guestPath).string(p.diskPath)
  optionalU64(w, s.lastRealtime)
  optionalU64(w, s.lastMonotonic)
  w.u32(s.fds.length)
  for (const f of s.fds) {
    w.u32(f.fd).u8(KINDS.indexOf(f.kind)).u64(f.ino).u64(f.offset).u16(f.flags)
    w.u32(f.rightsBase)
      .u32(f.rightsInheriting)
      .string(f.path)
      .u8(f.preopen ? 1 : 0)
  }
  w.u64(s.disk.length).raw(s.disk)
  return w.finish()
}

export function decodeHostState(bytes: Uint8Array): HostState {
  const r: ByteReader = new ByteReader(bytes, 'WASI host snapshot')
  r.expectMagic(MAGIC, VERSION)
  const args = list(r, () => r.string())
  const env = list(r, (): [string, string] => [r.string(), r.string()])
  const preopens = list(r, () => ({ guestPath: r.string(), diskPath: r.string() }))
  const lastRealtime = readOptionalU64(r)
  const lastMonotonic = readOptionalU64(r)
  const fds = list(r, (): FdState => {
    const fd = r.u32()
    const kind = KINDS[r.u8()]
    if (kind === undefined) r.fail(`fd ${fd} has an unknown kind`)
    return {
      fd,
      kind,
      ino: r.safe(),
      offset: r.safe(),
      flags: r.u16(),
      rightsBase: r.u32(),
      rightsInheriting: r.u32(),
      path: r.string(),
      preopen: r.u8() === 1,
    }
  })
  const disk = r.raw(r.safe())
  r.end()
  return { args, env, preopens, lastRealtime, lastMonotonic, fds, disk }
}

/** A u32 count, then that many items (read one by one, so a bad count fails as truncation). */
function list<T>(r: ByteReader, item: () => T): T[] {
  const out: T[] = []
  for (let n = r.u32(); n > 0; n--) out.push(item())
  return out
}

function optionalU64(w: ByteWriter, v: bigint | undefined): void {
  if (v === undefined) w.u8(0)
  else w.u8(1).u64(v)
}

function readOptionalU64(r: ByteReader): bigint | undefined {
  return r.u8() === 1 ? r.u64() : undefined
}
