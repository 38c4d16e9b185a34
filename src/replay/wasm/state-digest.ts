/**
 * The state digest: SHA-256 over linear memory, every exported mutable global
 * and the host's snapshot. Two replicas with the same digest hold the same
 * machine. Asyncify's own memory is left out: it holds a stack only while
 * paused, and whether a run was paused must not change its digest.
 */
import { createHash } from 'node:crypto'
import type { GlobalValue } from './asyncify-runtime.ts'

export interface DigestInput {
  memory: Uint8Array
  globals: readonly GlobalValue[]
  host: Uint8Array
}

const TAG = 'understudy-state/1\0'
const TYPE_CODE = { i32: 0, i64: 1, f32: 2, f64: 3 } as const

export function stateDigest(input: DigestInput): Uint8Array {
  const hash = createHash('sha256').update(TAG)
  hash.update(u64(input.memory.byteLength)).update(input.memory)
  hash.update(u64(input.globals.length))
  for (const g of input.globals) hash.update(encodeGlobal(g))
  hash.update(u64(input.host.byteLength)).update(input.host)
  return new Uint8Array(hash.digest())
}

/** A global as 9 bytes: type code, then its value's bits little-endian (floats by their bits). */
export function encodeGlobal(g: GlobalValue): Uint8Array {
  const out = new Uint8Array(9)
  const view = new DataView(out.buffer)
  out[0] = TYPE_CODE[g.type]
  switch (g.type) {
    case 'i32':
      view.setUint32(1, Number(g.value) >>> 0, true)
      break
    case 'i64':
      view.setBigUint64(1, BigInt.asUintN(64, BigInt(g.value)), true)
      break
    case 'f32':
      view.setFloat32(1, Number(g.value), true)
      break
    case 'f64':
      view.setFloat64(1, Number(g.value), true)
      break
  }
  return out
}

export function decodeGlobal(name: string, bytes: Uint8Array): GlobalValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, 9)
  switch (bytes[0]) {
    case 0:
      return { name, type: 'i32', value: view.getInt32(1, true) }
    case 1:
      return { name, type: 'i64', value: view.getBigInt64(1, true) }
    case 2:
      return { name, type: 'f32', value: view.getFloat32(1, true) }
    case 3:
      return { name, type: 'f64', value: view.getFloat64(1, true) }
    default:
      throw new RangeError(`unknown global type code ${bytes[0]}`)
  }
}

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true)
  return out
}
