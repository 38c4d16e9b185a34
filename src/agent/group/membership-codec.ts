/**
 * The data of a 'config' entry: one Membership, version 1.
 *
 *   version(u8) memberCount {len utf8}×memberCount learnerCount {len utf8}×learnerCount
 *
 * Counts and lengths are canonical unsigned varints. The decoder is strict (so an accepted input
 * re-encodes to the same bytes): another version, truncation, trailing bytes, an empty, overlong or
 * non-UTF-8 id, an id listed twice, or no voting member are CorruptLogErrors.
 */
import { CorruptLogError, GroupStateError } from '../../errors/index.ts'
import { ByteReader } from '../../replay/log/byte-reader.ts'
import { varintSize, writeVarint } from '../../replay/log/varint.ts'
import type { MemberId, Membership } from './types.ts'

export const MEMBERSHIP_CODEC_VERSION = 1
/** As on the wire: member ids are peer ids (52 characters for Ed25519). */
const MAX_ID_BYTES = 128

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Encoder = new TextEncoder()

export function encodeMembership(m: Membership): Uint8Array {
  const problem = membershipProblem(m)
  if (problem) throw new GroupStateError(`cannot encode the configuration: ${problem}`)
  const ids = [m.members, m.learners].map((list) => list.map((id) => utf8Encoder.encode(id)))
  let size = 1
  for (const list of ids) {
    size += varintSize(list.length)
    for (const id of list) size += varintSize(id.byteLength) + id.byteLength
  }
  const out = new Uint8Array(size)
  out[0] = MEMBERSHIP_CODEC_VERSION
  let pos = 1
  for (const list of ids) {
    pos = writeVarint(out, pos, list.length)
    for (const id of list) {
      pos = writeVarint(out, pos, id.byteLength)
      out.set(id, pos)
      pos += id.byteLength
    }
  }
  return out
}

/** `seq` names the entry in errors. */
export function decodeMembership(data: Uint8Array, seq?: number): Membership {
  const r = new ByteReader(data, seq === undefined ? 'configuration' : `config entry ${seq}`, seq)
  const version = r.u8('version')
  if (version !== MEMBERSHIP_CODEC_VERSION) r.fail(`configuration version ${version} is unknown`)
  const members = readIds(r, 'member')
  const learners = readIds(r, 'learner')
  r.done()
  const m = { members, learners }
  const problem = membershipProblem(m)
  if (problem) throw new CorruptLogError(`${r.context}: ${problem}`, seq)
  return m
}

/** Why `m` is not a configuration a group can have, or undefined. */
export function membershipProblem(m: Membership): string | undefined {
  if (m.members.length === 0) return 'it has no voting member'
  const seen = new Set<MemberId>()
  for (const id of [...m.members, ...m.learners]) {
    if (typeof id !== 'string' || !id.isWellFormed()) return 'a member id is not a well-formed string'
    const n = utf8Encoder.encode(id).byteLength
    if (n === 0 || n > MAX_ID_BYTES)
      return `member id ${JSON.stringify(id)} is outside 1..${MAX_ID_BYTES} bytes`
    if (seen.has(id)) return `${id} is listed twice`
    seen.add(id)
  }
  return undefined
}

function readIds(r: ByteReader, what: string): MemberId[] {
  const count = r.varint(`${what} count`)
  // Each id takes at least 2 bytes: refuse a count the input cannot hold before allocating.
  if (count > r.remaining / 2) r.fail(`claims ${count} ${what}s, more than ${r.remaining} bytes can hold`)
  const ids: MemberId[] = []
  for (let i = 0; i < count; i++) {
    const bytes = r.take(r.varint(`${what} id length`), `${what} id`)
    try {
      ids.push(utf8.decode(bytes))
    } catch {
      r.fail(`a ${what} id is not valid UTF-8`)
    }
  }
  return ids
}
