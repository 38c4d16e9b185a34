/**
 * Unsigned LEB128 varints for the log's wire format. Encodings are canonical
 * (no redundant trailing zero groups), so every value has exactly one encoding and
 * decode(encode(x)) gives back the same bytes: the hash chain depends on that.
 */

/** Plain varints (seq, epoch, lengths) carry safe integers: at most 53 bits, 8 bytes. */
export const MAX_VARINT_BYTES = 8
/** Wide varints (call arguments) carry up to 66 bits: 10 bytes. */
export const MAX_WIDE_VARINT_BYTES = 10
export const WIDE_VARINT_LIMIT = 1n << 66n

/** Bytes needed to encode `n`, a non-negative safe integer. */
export function varintSize(n: number): number {
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    size++
  }
  return size
}

/** Writes `n` at `pos` and returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n > 0x7fffffff) {
    buf[pos++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80
    n >>>= 7
  }
  buf[pos++] = n
  return pos
}

export function wideVarintSize(n: bigint): number {
  let size = 1
  while (n >= 0x80n) {
    n >>= 7n
    size++
  }
  return size
}

export function writeWideVarint(buf: Uint8Array, pos: number, n: bigint): number {
  while (n >= 0x80n) {
    buf[pos++] = Number(n & 0x7fn) | 0x80
    n >>= 7n
  }
  buf[pos++] = Number(n)
  return pos
}

/** Throws a RangeError (a programming error, not bad input) unless `n` fits a plain varint. */
export function assertVarint(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`${what} must be a non-negative safe integer, got ${n}`)
}
