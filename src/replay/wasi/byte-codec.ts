/**
 * Little-endian binary writer and reader for the disk and host snapshots.
 * Strings are UTF-8 with a u32 length prefix.
 */
import { CheckpointError } from '../../errors/index.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export class ByteWriter {
  #buf = new Uint8Array(256)
  #view = new DataView(this.#buf.buffer)
  #len = 0

  /** Makes room for n bytes and returns where they go (read the buffer fields only after calling it). */
  #reserve(n: number): number {
    const at = this.#len
    const need = at + n
    if (need > this.#buf.length) {
      const next = new Uint8Array(Math.max(need, this.#buf.length * 2))
      next.set(this.#buf.subarray(0, at))
      this.#buf = next
      this.#view = new DataView(next.buffer)
    }
    this.#len = need
    return at
  }

  u8(v: number): this {
    const at = this.#reserve(1)
    this.#view.setUint8(at, v)
    return this
  }

  u16(v: number): this {
    const at = this.#reserve(2)
    this.#view.setUint16(at, v, true)
    return this
  }

  u32(v: number): this {
    const at = this.#reserve(4)
    this.#view.setUint32(at, v, true)
    return this
  }

  u64(v: bigint | number): this {
    const at = this.#reserve(8)
    this.#view.setBigUint64(at, BigInt(v), true)
    return this
  }

  raw(bytes: Uint8Array): this {
    const at = this.#reserve(bytes.length)
    this.#buf.set(bytes, at)
    return this
  }

  bytes(bytes: Uint8Array): this {
    return this.u32(bytes.length).raw(bytes)
  }

  string(s: string): this {
    return this.bytes(encoder.encode(s))
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len)
  }
}

export class ByteReader {
  readonly #bytes: Uint8Array
  readonly #view: DataView
  readonly #what: string
  #at = 0

  constructor(bytes: Uint8Array, what: string) {
    this.#bytes = bytes
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.#what = what
  }

  #take(n: number): number {
    const at = this.#at
    if (at + n > this.#bytes.length) throw new CheckpointError(`${this.#what} is truncated at byte ${at}`)
    this.#at = at + n
    return at
  }

  u8(): number {
    return this.#view.getUint8(this.#take(1))
  }

  u16(): number {
    return this.#view.getUint16(this.#take(2), true)
  }

  u32(): number {
    return this.#view.getUint32(this.#take(4), true)
  }

  u64(): bigint {
    return this.#view.getBigUint64(this.#take(8), true)
  }

  /** A u64 that must fit a JS number (inode numbers, sizes, offsets). */
  safe(): number {
    const v = this.u64()
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`value ${v} out of range`)
    return Number(v)
  }

  raw(n: number): Uint8Array {
    const at = this.#take(n)
    return this.#bytes.slice(at, at + n)
  }

  bytes(): Uint8Array {
    return this.raw(this.u32())
  }

  string(): string {
    try {
      return decoder.decode(this.bytes())
    } catch (err) {
      throw new CheckpointError(`${this.#what} holds a string that is not UTF-8`, { cause: err })
    }
  }

  expectMagic(magic: string, version: number): void {
    const got = new TextDecoder().decode(this.raw(magic.length))
    if (got !== magic) this.fail(`bad magic ${JSON.stringify(got)}, expected ${magic}`)
    const v = this.u8()
    if (v !== version) this.fail(`format version ${v} is not supported (expected ${version})`)
  }

  end(): void {
    if (this.#at !== this.#bytes.length) this.fail(`${this.#bytes.length - this.#at} trailing bytes`)
  }

  fail(message: string): never {
    throw new CheckpointError(`${this.#what}: ${message}`)
  }
}
