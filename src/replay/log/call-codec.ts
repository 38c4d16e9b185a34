/**
 * Payload encodings of each entry kind (all canonical, all strict on decode):
 *
 *   Call        [varint fnId][if fnId = 0: varint len, utf8 name][varint argc][wide varint arg]*[result bytes]
 *   Input       [varint len][utf8 name][bytes]
 *   Output      [varint stream][varint length][32-byte SHA-256 of the bytes]
 *   Exit        [32-byte state digest][u8 outcome: 1 exit, 2 trap, 3 stack overflow][zigzag code | string]
 *   Checkpoint  [32-byte state digest]
 *   EpochStart  [varint epoch]
 *
 * A call argument is one wide varint: zigzag(value) * 2 + (1 if it is a bigint), so
 * an i32 passed as a number and an i64 passed as a bigint stay distinguishable.
 */
import { type CallArg, EntryKind, type LogEntry, type Outcome } from '../types.ts'
import { ByteReader } from './byte-reader.ts'
import { fnId, fnName } from './fn-table.ts'
import { HASH_BYTES, kindName } from './log-codec.ts'
import { assertVarint, varintSize, wideVarintSize, writeVarint, writeWideVarint } from './varint.ts'

export interface CallPayload {
  fn: string
  args: CallArg[]
  result: Uint8Array
}

export interface InputPayload {
  name: string
  bytes: Uint8Array
}

export interface OutputPayload {
  /** 1 stdout, 2 stderr, others as the host defines them. */
  stream: number
  /** SHA-256 of the bytes written. */
  digest: Uint8Array
  length: number
}

export interface ExitPayload {
  outcome: Outcome
  stateDigest: Uint8Array
}

export interface CheckpointPayload {
  stateDigest: Uint8Array
}

export interface EpochStartPayload {
  epoch: number
}

/** A decoded payload, tagged with its entry kind. */
export type DecodedPayload =
  | ({ kind: typeof EntryKind.Call } & CallPayload)
  | ({ kind: typeof EntryKind.Input } & InputPayload)
  | ({ kind: typeof EntryKind.Output } & OutputPayload)
  | ({ kind: typeof EntryKind.Exit } & ExitPayload)
  | ({ kind: typeof EntryKind.Checkpoint } & CheckpointPayload)
  | ({ kind: typeof EntryKind.EpochStart } & EpochStartPayload)

const utf8 = new TextEncoder()
const TWO_POW_51 = 2 ** 51
const BIGINT_ARG_MIN = -(1n << 64n)
const BIGINT_ARG_MAX = (1n << 64n) - 1n
const OUTCOME_EXIT = 1
const OUTCOME_TRAP = 2
const OUTCOME_STACK_OVERFLOW = 3

function argCode(arg: CallArg): number | bigint {
  if (typeof arg === 'number') {
    if (!Number.isSafeInteger(arg)) throw new RangeError(`call argument ${arg} is not a safe integer`)
    if (arg <= TWO_POW_51 && arg >= -TWO_POW_51) return (arg >= 0 ? arg * 2 : -arg * 2 - 1) * 2
    const v = BigInt(arg)
    return (v >= 0n ? v << 1n : (-v << 1n) - 1n) << 1n
  }
  if (arg < BIGINT_ARG_MIN || arg > BIGINT_ARG_MAX)
    throw new RangeError(`call argument ${arg}n exceeds 64 bits`)
  return ((arg >= 0n ? arg << 1n : (-arg << 1n) - 1n) << 1n) | 1n
}

function argFromCode(code: number | bigint, r: ByteReader, index: number): CallArg {
  if (typeof code === 'number') {
    const zz = Math.floor(code / 2)
    const v = zz % 2 === 0 ? zz / 2 : -(zz + 1) / 2
    return code % 2 === 0 ? v : BigInt(v)
  }
  const zz = code >> 1n
  const v = (zz & 1n) === 0n ? zz >> 1n : -((zz + 1n) >> 1n)
  if ((code & 1n) === 1n) return v
  const n = Number(v)
  if (!Number.isSafeInteger(n)) r.fail(`argument ${index} is a number beyond 2^53`)
  return n
}

function assertDigest(digest: Uint8Array, what: string): void {
  if (digest.length !== HASH_BYTES)
    throw new RangeError(`${what} must be ${HASH_BYTES} bytes, got ${digest.length}`)
}

export function encodeCall(fn: string, args: readonly CallArg[], result: Uint8Array): Uint8Array {
  const id = fnId(fn)
  const name = id === 0 ? utf8.encode(fn) : undefined
  const codes = new Array<number | bigint>(args.length)
  let size = varintSize(id) + varintSize(args.length) + result.length
  if (name !== undefined) size += varintSize(name.length) + name.length
  for (let i = 0; i < args.length; i++) {
    const code = argCode(args[i]!)
    codes[i] = code
    size += typeof code === 'number' ? varintSize(code) : wideVarintSize(code)
  }
  const buf = new Uint8Array(size)
  let pos = writeVarint(buf, 0, id)
  if (name !== undefined) {
    pos = writeVarint(buf, pos, name.length)
    buf.set(name, pos)
    pos += name.length
  }
  pos = writeVarint(buf, pos, args.length)
  for (const code of codes) {
    pos = typeof code === 'number' ? writeVarint(buf, pos, code) : writeWideVarint(buf, pos, code)
  }
  buf.set(result, pos)
  return buf
}

export function decodeCall(payload: Uint8Array, seq?: number): CallPayload {
  const r = reader(payload, EntryKind.Call, seq)
  const id = r.varint('function id')
  let fn: string
  if (id === 0) {
    fn = r.string('function name')
    // one encoding per call: a tabled name must use its id
    if (fnId(fn) !== 0) r.fail(`function name ${JSON.stringify(fn)} is written out but has id ${fnId(fn)}`)
  } else fn = fnName(id) ?? r.fail(`unknown function id ${id}`)
  const argc = r.varint('argument count')
  // each argument takes at least one byte: bounds the allocation by the payload size
  if (argc > r.remaining) r.fail(`argument count ${argc} exceeds the ${r.remaining} bytes left`)
  const args = new Array<CallArg>(argc)
  for (let i = 0; i < argc; i++) args[i] = argFromCode(r.wideVarint(`argument ${i}`), r, i)
  return { fn, args, result: r.rest() }
}

export function encodeInput(name: string, bytes: Uint8Array): Uint8Array {
  const n = utf8.encode(name)
  const buf = new Uint8Array(varintSize(n.length) + n.length + bytes.length)
  const pos = writeVarint(buf, 0, n.length)
  buf.set(n, pos)
  buf.set(bytes, pos + n.length)
  return buf
}

export function decodeInput(payload: Uint8Array, seq?: number): InputPayload {
  const r = reader(payload, EntryKind.Input, seq)
  const name = r.string('input name')
  return { name, bytes: r.rest() }
}

export function encodeOutput(out: OutputPayload): Uint8Array {
  assertVarint(out.stream, 'output stream')
  assertVarint(out.length, 'output length')
  assertDigest(out.digest, 'output digest')
  const buf = new Uint8Array(varintSize(out.stream) + varintSize(out.length) + HASH_BYTES)
  let pos = writeVarint(buf, 0, out.stream)
  pos = writeVarint(buf, pos, out.length)
  buf.set(out.digest, pos)
  return buf
}

export function decodeOutput(payload: Uint8Array, seq?: number): OutputPayload {
  const r = reader(payload, EntryKind.Output, seq)
  const stream = r.varint('stream')
  const length = r.varint('length')
  const digest = r.take(HASH_BYTES, 'digest')
  r.done()
  return { stream, digest, length }
}

export function encodeExit(exit: ExitPayload): Uint8Array {
  assertDigest(exit.stateDigest, 'state digest')
  const { outcome } = exit
  let tail: Uint8Array
  switch (outcome.kind) {
    case 'exit': {
      const zz = outcome.code >= 0 ? outcome.code * 2 : -outcome.code * 2 - 1
      if (!Number.isInteger(outcome.code) || !Number.isSafeInteger(zz)) {
        throw new RangeError(`exit code ${outcome.code} is not an integer below 2^52`)
      }
      tail = new Uint8Array(1 + varintSize(zz))
      tail[0] = OUTCOME_EXIT
      writeVarint(tail, 1, zz)
      break
    }
    case 'trap': {
      const msg = utf8.encode(outcome.message)
      tail = new Uint8Array(1 + varintSize(msg.length) + msg.length)
      tail[0] = OUTCOME_TRAP
      tail.set(msg, writeVarint(tail, 1, msg.length))
      break
    }
    case 'stack-overflow':
      tail = Uint8Array.of(OUTCOME_STACK_OVERFLOW)
      break
    default:
      throw new RangeError(`unknown outcome ${JSON.stringify(outcome)}`)
  }
  const buf = new Uint8Array(HASH_BYTES + tail.length)
  buf.set(exit.stateDigest, 0)
  buf.set(tail, HASH_BYTES)
  return buf
}

export function decodeExit(payload: Uint8Array, seq?: number): ExitPayload {
  const r = reader(payload, EntryKind.Exit, seq)
  const stateDigest = r.take(HASH_BYTES, 'state digest')
  const tag = r.u8('outcome')
  let outcome: Outcome
  if (tag === OUTCOME_EXIT) {
    const zz = r.varint('exit code')
    outcome = { kind: 'exit', code: zz % 2 === 0 ? zz / 2 : -(zz + 1) / 2 }
  } else if (tag === OUTCOME_TRAP) outcome = { kind: 'trap', message: r.string('trap message') }
  else if (tag === OUTCOME_STACK_OVERFLOW) outcome = { kind: 'stack-overflow' }
  else return r.fail(`unknown outcome ${tag}`)
  r.done()
  return { outcome, stateDigest }
}

export function encodeCheckpoint(cp: CheckpointPayload): Uint8Array {
  assertDigest(cp.stateDigest, 'state digest')
  return cp.stateDigest.slice()
}

export function decodeCheckpoint(payload: Uint8Array, seq?: number): CheckpointPayload {
  const r = reader(payload, EntryKind.Checkpoint, seq)
  const stateDigest = r.take(HASH_BYTES, 'state digest')
  r.done()
  return { stateDigest }
}

export function encodeEpochStart(es: EpochStartPayload): Uint8Array {
  assertVarint(es.epoch, 'epoch')
  const buf = new Uint8Array(varintSize(es.epoch))
  writeVarint(buf, 0, es.epoch)
  return buf
}

export function decodeEpochStart(payload: Uint8Array, seq?: number): EpochStartPayload {
  const r = reader(payload, EntryKind.EpochStart, seq)
  const epoch = r.varint('epoch')
  r.done()
  return { epoch }
}

/** Decodes an entry's payload according to its kind. */
export function decodePayload(entry: LogEntry): DecodedPayload {
  const { payload, seq } = entry
  switch (entry.kind) {
    case EntryKind.Call:
      return { kind: EntryKind.Call, ...decodeCall(payload, seq) }
    case EntryKind.Input:
      return { kind: EntryKind.Input, ...decodeInput(payload, seq) }
    case EntryKind.Output:
      return { kind: EntryKind.Output, ...decodeOutput(payload, seq) }
    case EntryKind.Exit:
      return { kind: EntryKind.Exit, ...decodeExit(payload, seq) }
    case EntryKind.Checkpoint:
      return { kind: EntryKind.Checkpoint, ...decodeCheckpoint(payload, seq) }
    case EntryKind.EpochStart:
      return { kind: EntryKind.EpochStart, ...decodeEpochStart(payload, seq) }
    default:
      return new ByteReader(payload, `entry ${seq}`, seq).fail(`unknown entry kind ${entry.kind}`)
  }
}

function reader(payload: Uint8Array, kind: EntryKind, seq: number | undefined): ByteReader {
  return new ByteReader(
    payload,
    `${seq === undefined ? 'entry' : `entry ${seq}`} ${kindName(kind)} payload`,
    seq,
  )
}
