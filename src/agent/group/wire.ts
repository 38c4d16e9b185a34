/**
 * Binary wire format of replica-group messages, version 1, carried by the mesh's
 * messenger between agents. Every message is
 *
 *   version(u8) type(u8) from(len, utf8) to(len, utf8) epoch  fields…
 *
 * with unsigned canonical varints for numbers (the replay log's varints) and one byte
 * for booleans and entry kinds (0 normal, 1 epoch-start, 2 config). Per type:
 *
 *   append              prevSeq prevEpoch leaderCommit count {epoch kind len data}×count
 *                       (entry seqs are implicit: prevSeq + 1, + 2, …)
 *   append-response     reject matchSeq rejectedSeq hintSeq hintEpoch
 *   heartbeat           leaderCommit
 *   pre-vote            lastSeq lastEpoch
 *   request-vote        lastSeq lastEpoch transfer
 *   pre-vote-response, vote-response    granted
 *   install-checkpoint  seq epoch len ref hasConfig [memberCount {len id}… learnerCount {len id}…]
 *                       (the configuration at the checkpoint, when the primary knows it)
 *   checkpoint-response reject matchSeq
 *   heartbeat-response, timeout-now     nothing more
 *
 * The decoder is strict, so every accepted input re-encodes to the same bytes: unknown
 * or newer versions, unknown types, truncation, trailing bytes, non-minimal varints,
 * numbers beyond 2^53 - 1, bytes other than 0/1 for booleans, unknown entry kinds,
 * empty, overlong or non-UTF-8 member ids, and a checkpoint configuration without a
 * voter or naming a member twice are all GroupWireErrors. Entry data and
 * checkpoint refs are views into the input (no copy): keep the input unchanged while
 * the message is in use.
 */
import { CorruptLogError, GroupWireError } from '../../errors/index.ts'
import { ByteReader } from '../../replay/log/byte-reader.ts'
import { varintSize, writeVarint } from '../../replay/log/varint.ts'
import { membershipProblem } from './membership-codec.ts'
import type { Checkpoint, Entry, EntryKind, LogPosition, MemberId, Message, MessageType } from './types.ts'

export const GROUP_WIRE_VERSION = 1
/** Member ids are peer ids (52 characters for Ed25519); anything much longer is garbage. */
export const MAX_MEMBER_ID_BYTES = 128

const TYPE_CODES: Record<MessageType, number> = {
  append: 1,
  'append-response': 2,
  heartbeat: 3,
  'heartbeat-response': 4,
  'pre-vote': 5,
  'pre-vote-response': 6,
  'request-vote': 7,
  'vote-response': 8,
  'timeout-now': 9,
  'install-checkpoint': 10,
  'checkpoint-response': 11,
}
const TYPES_BY_CODE = new Map<number, MessageType>(
  Object.entries(TYPE_CODES).map(([type, code]) => [code, type as MessageType]),
)
const KIND_CODES: Record<EntryKind, number> = { normal: 0, 'epoch-start': 1, config: 2 }
const KINDS_BY_CODE: readonly EntryKind[] = ['normal', 'epoch-start', 'config']

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Encoder = new TextEncoder()

/** Encodes a message; a message that breaks the format's rules is a GroupWireError, never bad bytes. */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer()
  w.u8(GROUP_WIRE_VERSION)
  const code = TYPE_CODES[m.type]
  if (code === undefined)
    throw new GroupWireError(`cannot encode a message of unknown type ${String(m.type)}`)
  w.u8(code)
  w.memberId(m.from, 'from')
  w.memberId(m.to, 'to')
  w.varint(m.epoch, 'epoch')
  switch (m.type) {
    case 'append': {
      w.position(m.prev, 'prev')
      w.varint(m.leaderCommit, 'leaderCommit')
      w.varint(m.entries.length, 'entry count')
      for (let i = 0; i < m.entries.length; i++) {
        const entry = m.entries[i] as Entry
        if (entry.seq !== m.prev.seq + 1 + i) {
          throw new GroupWireError(
            `cannot encode append: entry ${i} has seq ${entry.seq}, entries must follow prev (${m.prev.seq}) without gaps`,
          )
        }
        w.varint(entry.epoch, `entry ${entry.seq} epoch`)
        const kind = KIND_CODES[entry.kind]
        if (kind === undefined) throw new GroupWireError(`cannot encode entry kind ${String(entry.kind)}`)
        w.u8(kind)
        w.bytes(entry.data, `entry ${entry.seq} data`)
      }
      break
    }
    case 'append-response':
      w.bool(m.reject, 'reject')
      w.varint(m.matchSeq, 'matchSeq')
      w.varint(m.rejectedSeq, 'rejectedSeq')
      w.position(m.hint, 'hint')
      break
    case 'heartbeat':
      w.varint(m.leaderCommit, 'leaderCommit')
      break
    case 'pre-vote':
      w.position(m.last, 'last')
      break
    case 'request-vote':
      w.position(m.last, 'last')
      w.bool(m.transfer, 'transfer')
      break
    case 'pre-vote-response':
    case 'vote-response':
      w.bool(m.granted, 'granted')
      break
    case 'install-checkpoint':
      w.varint(m.checkpoint.seq, 'checkpoint seq')
      w.varint(m.checkpoint.epoch, 'checkpoint epoch')
      w.bytes(m.checkpoint.ref, 'checkpoint ref')
      w.membership(m.checkpoint)
      break
    case 'checkpoint-response':
      w.bool(m.reject, 'reject')
      w.varint(m.matchSeq, 'matchSeq')
      break
    case 'heartbeat-response':
    case 'timeout-now':
      break
  }
  return w.finish()
}

/** Decodes one message; anything but a well-formed, canonical encoding is a GroupWireError. */
export function decodeMessage(bytes: Uint8Array): Message {
  try {
    return decode(new ByteReader(bytes, 'group message'))
  } catch (err) {
    if (err instanceof CorruptLogError) throw new GroupWireError(err.message, { cause: err })
    throw err
  }
}

function decode(r: ByteReader): Message {
  const version = r.u8('version')
  if (version !== GROUP_WIRE_VERSION) {
    throw new GroupWireError(
      version > GROUP_WIRE_VERSION
        ? `group message wire version ${version} is newer than this agent's (${GROUP_WIRE_VERSION}): upgrade understudy on this machine`
        : `group message wire version ${version} is unknown (this agent speaks ${GROUP_WIRE_VERSION})`,
    )
  }
  const code = r.u8('type')
  const type = TYPES_BY_CODE.get(code)
  if (type === undefined) throw new GroupWireError(`group message: unknown type ${code}`)
  const from = memberId(r, 'from')
  const to = memberId(r, 'to')
  const epoch = r.varint('epoch')
  const envelope = { from, to, epoch }
  let m: Message
  switch (type) {
    case 'append': {
      const prev = position(r, 'prev')
      const leaderCommit = r.varint('leaderCommit')
      const count = r.varint('entry count')
      // Each entry takes at least 3 bytes: refuse a count the input cannot hold before allocating.
      if (count > r.remaining / 3) r.fail(`claims ${count} entries, more than ${r.remaining} bytes can hold`)
      if (!Number.isSafeInteger(prev.seq + count)) r.fail('entry seqs exceed 2^53 - 1')
      const entries: Entry[] = new Array(count)
      for (let i = 0; i < count; i++) {
        const seq = prev.seq + 1 + i
        const entryEpoch = r.varint(`entry ${seq} epoch`)
        const kind = KINDS_BY_CODE[r.u8(`entry ${seq} kind`)]
        if (kind === undefined) r.fail(`entry ${seq} has an unknown kind`)
        const data = r.take(r.varint(`entry ${seq} length`), `entry ${seq} data`)
        entries[i] = { seq, epoch: entryEpoch, kind, data }
      }
      m = { type, ...envelope, prev, entries, leaderCommit }
      break
    }
    case 'append-response': {
      const reject = bool(r, 'reject')
      const matchSeq = r.varint('matchSeq')
      const rejectedSeq = r.varint('rejectedSeq')
      m = { type, ...envelope, reject, matchSeq, rejectedSeq, hint: position(r, 'hint') }
      break
    }
    case 'heartbeat':
      m = { type, ...envelope, leaderCommit: r.varint('leaderCommit') }
      break
    case 'pre-vote':
      m = { type, ...envelope, last: position(r, 'last') }
      break
    case 'request-vote': {
      const last = position(r, 'last')
      m = { type, ...envelope, last, transfer: bool(r, 'transfer') }
      break
    }
    case 'pre-vote-response':
    case 'vote-response':
      m = { type, ...envelope, granted: bool(r, 'granted') }
      break
    case 'install-checkpoint': {
      const seq = r.varint('checkpoint seq')
      const cpEpoch = r.varint('checkpoint epoch')
      const ref = r.take(r.varint('checkpoint ref length'), 'checkpoint ref')
      const checkpoint: Checkpoint = { seq, epoch: cpEpoch, ref }
      if (bool(r, 'hasConfig')) {
        checkpoint.members = memberList(r, 'checkpoint member')
        checkpoint.learners = memberList(r, 'checkpoint learner')
        const problem = membershipProblem({ members: checkpoint.members, learners: checkpoint.learners })
        if (problem) r.fail(`checkpoint configuration: ${problem}`)
      }
      m = { type, ...envelope, checkpoint }
      break
    }
    case 'checkpoint-response': {
      const reject = bool(r, 'reject')
      m = { type, ...envelope, reject, matchSeq: r.varint('matchSeq') }
      break
    }
    case 'heartbeat-response':
    case 'timeout-now':
      m = { type, ...envelope }
      break
  }
  r.done()
  return m
}

function memberId(r: ByteReader, field: string): string {
  const length = r.varint(`${field} length`)
  if (length === 0 || length > MAX_MEMBER_ID_BYTES) {
    r.fail(`${field} member id length ${length} is outside 1..${MAX_MEMBER_ID_BYTES}`)
  }
  const bytes = r.take(length, field)
  try {
    return utf8.decode(bytes)
  } catch {
    return r.fail(`${field} member id is not valid UTF-8`)
  }
}

function memberList(r: ByteReader, field: string): MemberId[] {
  const count = r.varint(`${field} count`)
  // Each id takes at least 2 bytes: refuse a count the input cannot hold before allocating.
  if (count > r.remaining / 2) r.fail(`claims ${count} ${field}s, more than ${r.remaining} bytes can hold`)
  const ids: MemberId[] = []
  for (let i = 0; i < count; i++) ids.push(memberId(r, field))
  return ids
}

function position(r: ByteReader, field: string): LogPosition {
  const seq = r.varint(`${field} seq`)
  return { seq, epoch: r.varint(`${field} epoch`) }
}

function bool(r: ByteReader, field: string): boolean {
  const b = r.u8(field)
  if (b > 1) r.fail(`${field} is ${b}, not a boolean (0 or 1)`)
  return b === 1
}

/** Collects parts, then writes them into one buffer of the exact size. */
class Writer {
  private readonly parts: (number | Uint8Array)[] = []
  /** Which parts are varints (numbers that are not single bytes). */
  private readonly varints = new Set<number>()
  private size = 0

  u8(b: number): void {
    this.parts.push(b)
    this.size++
  }

  bool(value: boolean, field: string): void {
    if (typeof value !== 'boolean')
      throw new GroupWireError(`cannot encode ${field}: ${String(value)} is not a boolean`)
    this.u8(value ? 1 : 0)
  }

  varint(n: number, field: string): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new GroupWireError(`cannot encode ${field}: ${String(n)} is not an integer in 0..2^53 - 1`)
    }
    this.varints.add(this.parts.length)
    this.parts.push(n)
    this.size += varintSize(n)
  }

  bytes(data: Uint8Array, field: string): void {
    if (!(data instanceof Uint8Array)) throw new GroupWireError(`cannot encode ${field}: not a Uint8Array`)
    this.varint(data.byteLength, `${field} length`)
    this.parts.push(data)
    this.size += data.byteLength
  }

  /** A checkpoint's configuration: a presence byte, then members and learners. */
  membership(cp: Checkpoint): void {
    if (cp.members === undefined) {
      this.u8(0)
      return
    }
    const learners = cp.learners ?? []
    const problem = membershipProblem({ members: cp.members, learners })
    if (problem) throw new GroupWireError(`cannot encode the checkpoint configuration: ${problem}`)
    this.u8(1)
    for (const [list, what] of [
      [cp.members, 'checkpoint member'],
      [learners, 'checkpoint learner'],
    ] as const) {
      this.varint(list.length, `${what} count`)
      for (const id of list) this.memberId(id, what)
    }
  }

  position(p: LogPosition, field: string): void {
    this.varint(p.seq, `${field} seq`)
    this.varint(p.epoch, `${field} epoch`)
  }

  memberId(id: string, field: string): void {
    if (typeof id !== 'string' || !id.isWellFormed()) {
      throw new GroupWireError(`cannot encode ${field}: a member id must be a well-formed string`)
    }
    const bytes = utf8Encoder.encode(id)
    if (bytes.byteLength === 0 || bytes.byteLength > MAX_MEMBER_ID_BYTES) {
      throw new GroupWireError(
        `cannot encode ${field}: member id of ${bytes.byteLength} bytes is outside 1..${MAX_MEMBER_ID_BYTES}`,
      )
    }
    this.bytes(bytes, field)
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size)
    let pos = 0
    for (let i = 0; i < this.parts.length; i++) {
      const part = this.parts[i] as number | Uint8Array
      if (typeof part !== 'number') {
        out.set(part, pos)
        pos += part.byteLength
      } else if (this.varints.has(i)) {
        pos = writeVarint(out, pos, part)
      } else {
        out[pos++] = part
      }
    }
    return out
  }
}
