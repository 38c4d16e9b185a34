/**
 * The bytes a nondeterministic call leaves on the tape: the errno (u16 LE)
 * followed by exactly what the host then writes into guest memory (clock
 * value, random bytes, bytes read, poll events). Replay applies them with no
 * live source at all.
 */
import { CorruptLogError } from '../../errors/index.ts'
import { errnoNames } from './wasi-constants.ts'

export function success(payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(2 + payload.length)
  out.set(payload, 2)
  return out
}

export function failure(errno: number): Uint8Array {
  const out = new Uint8Array(2)
  out[0] = errno & 0xff
  out[1] = errno >> 8
  return out
}

export function u64Success(value: bigint): Uint8Array {
  const out = new Uint8Array(10)
  new DataView(out.buffer).setBigUint64(2, value, true)
  return out
}

/** Splits a result; a malformed one (a log that does not fit this call) is a CorruptLogError. */
export function decodeResult(fn: string, bytes: Uint8Array): { errno: number; payload: Uint8Array } {
  if (bytes.length < 2) throw malformed(fn, `${bytes.length} bytes`)
  const errno = bytes[0]! | (bytes[1]! << 8)
  if (errno >= errnoNames.length) throw malformed(fn, `errno ${errno}`)
  return { errno, payload: bytes.subarray(2) }
}

export function malformed(fn: string, what: string): CorruptLogError {
  return new CorruptLogError(`the recorded result of ${fn} does not fit the call: ${what}`)
}

export function readU64(fn: string, payload: Uint8Array): bigint {
  if (payload.length !== 8) throw malformed(fn, `${payload.length} payload bytes, expected 8`)
  return new DataView(payload.buffer, payload.byteOffset, 8).getBigUint64(0, true)
}
