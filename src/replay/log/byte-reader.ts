import { CorruptLogError } from '../../errors/index.ts'
import { MAX_VARINT_BYTES, MAX_WIDE_VARINT_BYTES, WIDE_VARINT_LIMIT } from './varint.ts'

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * A strict cursor over untrusted bytes. Every failure is a CorruptLogError that
 * names what was being read and, when known, the seq of the entry it belongs to.
 */
export class ByteReader {
  readonly bytes: Uint8Array
  pos: number
  readonly end: number
  /** Prefix of every error message, e.g. 'entry 41 call payload'. */
  context: string
  seq: number | undefined

  constructor(bytes: Uint8Array, context: string, seq?: number, start = 0, end = bytes.length) {
    this.bytes = bytes
    this.pos = start
    this.end = end
    this.context = context
    this.seq = seq
  }

  get remaining(): number {
    return this.end - this.pos
  }

  fail(reason: string): never {
    throw new CorruptLogError(`${this.context}: ${reason}`, this.seq)
  }

  u8(field: string): number {
    if (this.pos >= this.end) this.fail(`ends before its ${field}`)
    return this.bytes[this.pos++]!
  }

  /** A canonical varint holding a non-negative safe integer. */
  varint(field: string): number {
    let n = 0
    let mul = 1
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.pos >= this.end) this.fail(`ends inside its ${field} varint`)
      const b = this.bytes[this.pos++]!
      n += (b & 0x7f) * mul
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) this.fail(`${field} varint is not minimally encoded`)
        if (n > Number.MAX_SAFE_INTEGER) this.fail(`${field} varint exceeds 2^53`)
        return n
      }
      mul *= 0x80
    }
    return this.fail(`${field} varint is longer than ${MAX_VARINT_BYTES} bytes`)
  }

  /** A canonical varint of up to 66 bits: a number when it fits 49 bits, else a bigint. */
  wideVarint(field: string): number | bigint {
    let n = 0
    let mul = 1
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) this.fail(`ends inside its ${field} varint`)
      const b = this.bytes[this.pos++]!
      n += (b & 0x7f) * mul
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) this.fail(`${field} varint is not minimally encoded`)
        return n
      }
      mul *= 0x80
    }
    let big = BigInt(n)
    let shift = 49n
    for (let i = 7; i < MAX_WIDE_VARINT_BYTES; i++) {
      if (this.pos >= this.end) this.fail(`ends inside its ${field} varint`)
      const b = this.bytes[this.pos++]!
      big |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) {
        if (b === 0) this.fail(`${field} varint is not minimally encoded`)
        if (big >= WIDE_VARINT_LIMIT) this.fail(`${field} varint exceeds 66 bits`)
        return big
      }
      shift += 7n
    }
    return this.fail(`${field} varint is longer than ${MAX_WIDE_VARINT_BYTES} bytes`)
  }

  /** A view of the next `n` bytes. */
  take(n: number, field: string): Uint8Array {
    if (n > this.remaining) this.fail(`${field} needs ${n} bytes but only ${this.remaining} remain`)
    const view = this.bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return view
  }

  /** A view of everything left. */
  rest(): Uint8Array {
    const view = this.bytes.subarray(this.pos, this.end)
    this.pos = this.end
    return view
  }

  /** A varint length followed by that many bytes of strict UTF-8. */
  string(field: string): string {
    const len = this.varint(`${field} length`)
    const bytes = this.take(len, field)
    try {
      return utf8.decode(bytes)
    } catch (err) {
      return this.fail(`${field} is not valid UTF-8 (${(err as Error).message})`)
    }
  }

  /** Nothing may follow. */
  done(): void {
    if (this.pos !== this.end) this.fail(`${this.remaining} unexpected trailing bytes`)
  }
}
