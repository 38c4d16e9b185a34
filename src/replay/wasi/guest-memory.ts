/**
 * Bounds-checked access to the guest's linear memory. memory.grow detaches the
 * old ArrayBuffer, so the views are re-created whenever the buffer changed.
 * Every out-of-bounds access throws EFAULT.
 */
import { Errno } from './wasi-constants.ts'
import { WasiError } from './wasi-error.ts'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Linux's limits on one readv/writev: iovec count, and bytes moved per call. */
export const IOV_MAX = 1024
export const MAX_IO_BYTES = 0x7ffff000

/** One buffer of an iovec array. */
export interface IoVec {
  ptr: number
  len: number
}

/** A WebAssembly.Memory, structurally (the project's TS lib set has no WebAssembly namespace). */
export interface LinearMemory {
  readonly buffer: ArrayBufferLike
}

export class GuestMemory {
  #memory: LinearMemory | undefined
  #buffer: ArrayBuffer = new ArrayBuffer(0)
  bytes: Uint8Array = new Uint8Array(0)
  view: DataView = new DataView(this.#buffer)

  attach(memory: LinearMemory): void {
    this.#memory = memory
    this.refresh()
  }

  /** Call at each entry from the guest (the memory may have grown since). */
  refresh(): void {
    const buffer = this.#memory?.buffer as ArrayBuffer | undefined
    if (buffer === undefined || buffer === this.#buffer) return
    this.#buffer = buffer
    this.bytes = new Uint8Array(buffer)
    this.view = new DataView(buffer)
  }

  check(ptr: number, len: number): void {
    if (ptr < 0 || ptr + len > this.bytes.length) throw new WasiError(Errno.FAULT)
  }

  u8(ptr: number): number {
    this.check(ptr, 1)
    return this.bytes[ptr]!
  }

  u16(ptr: number): number {
    this.check(ptr, 2)
    return this.view.getUint16(ptr, true)
  }

  u32(ptr: number): number {
    this.check(ptr, 4)
    return this.view.getUint32(ptr, true)
  }

  u64(ptr: number): bigint {
    this.check(ptr, 8)
    return this.view.getBigUint64(ptr, true)
  }

  setU8(ptr: number, v: number): void {
    this.check(ptr, 1)
    this.bytes[ptr] = v
  }

  setU16(ptr: number, v: number): void {
    this.check(ptr, 2)
    this.view.setUint16(ptr, v, true)
  }

  setU32(ptr: number, v: number): void {
    this.check(ptr, 4)
    this.view.setUint32(ptr, v, true)
  }

  setU64(ptr: number, v: bigint | number): void {
    this.check(ptr, 8)
    this.view.setBigUint64(ptr, BigInt(v), true)
  }

  /** A live view into guest memory (valid until the next grow). */
  subarray(ptr: number, len: number): Uint8Array {
    this.check(ptr, len)
    return this.bytes.subarray(ptr, ptr + len)
  }

  /** A copy, safe to keep. */
  slice(ptr: number, len: number): Uint8Array {
    this.check(ptr, len)
    return this.bytes.slice(ptr, ptr + len)
  }

  write(ptr: number, data: Uint8Array): void {
    this.check(ptr, data.length)
    this.bytes.set(data, ptr)
  }

  /** A path or name argument: UTF-8 (else EILSEQ), no NUL bytes (else EINVAL). */
  string(ptr: number, len: number): string {
    const raw = this.subarray(ptr, len)
    if (raw.includes(0)) throw new WasiError(Errno.INVAL)
    try {
      return utf8.decode(raw)
    } catch {
      throw new WasiError(Errno.ILSEQ)
    }
  }

  /** Reads and bounds-checks an iovec/ciovec array (more than IOV_MAX entries: EINVAL, as readv/writev). */
  iovecs(ptr: number, count: number): IoVec[] {
    if (count > IOV_MAX) throw new WasiError(Errno.INVAL)
    this.check(ptr, count * 8)
    const out: IoVec[] = new Array(count)
    for (let i = 0; i < count; i++) {
      const p = this.view.getUint32(ptr + i * 8, true)
      const len = this.view.getUint32(ptr + i * 8 + 4, true)
      this.check(p, len)
      out[i] = { ptr: p, len }
    }
    return out
  }

  /** Gathers the bytes of a ciovec array into one copy (at most MAX_IO_BYTES: a short write, as on Linux). */
  gather(iovs: readonly IoVec[]): Uint8Array {
    if (iovs.length === 1) return this.slice(iovs[0]!.ptr, Math.min(iovs[0]!.len, MAX_IO_BYTES))
    const out = new Uint8Array(Math.min(totalLength(iovs), MAX_IO_BYTES))
    let at = 0
    for (const { ptr, len } of iovs) {
      const n = Math.min(len, out.length - at)
      out.set(this.bytes.subarray(ptr, ptr + n), at)
      at += n
    }
    return out
  }

  /** Scatters `data` over an iovec array; returns the bytes placed. */
  scatter(iovs: readonly IoVec[], data: Uint8Array): number {
    let at = 0
    for (const { ptr, len } of iovs) {
      if (at >= data.length) break
      const n = Math.min(len, data.length - at)
      this.bytes.set(data.subarray(at, at + n), ptr)
      at += n
    }
    return at
  }
}

export function totalLength(iovs: readonly IoVec[]): number {
  let n = 0
  for (const v of iovs) n += v.len
  return n
}
