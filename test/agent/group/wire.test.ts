/** The group message codec: every type round-trips, the decoder is strict, and fuzzed input never escapes as another error. */
import test from 'ava'
import { createPrng, type Prng } from '../../../src/agent/group/prng.ts'
import type { Checkpoint, Entry, Message } from '../../../src/agent/group/types.ts'
import {
  decodeMessage,
  encodeMessage,
  GROUP_WIRE_VERSION,
  MAX_MEMBER_ID_BYTES,
} from '../../../src/agent/group/wire.ts'
import { GroupWireError } from '../../../src/errors/index.ts'

// Real peer ids look like this (Ed25519, base58btc): 52 characters.
const A = '12D3KooWAbcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTU'
const B = '12D3KooWZyxwvutsrqponmkjihgfedcbaZYXWVUTSRQPNMLKJHGF'
const MAX = Number.MAX_SAFE_INTEGER

function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff
  return out
}

function entries(prevSeq: number, specs: [epoch: number, kind: Entry['kind'], size: number][]): Entry[] {
  return specs.map(([epoch, kind, size], i) => ({ seq: prevSeq + 1 + i, epoch, kind, data: bytes(size, i) }))
}

const env = { from: A, to: B }

/** The message with byte fields as base64 and views checked: ava compares megabyte typed arrays slowly. */
function plain(m: Message): unknown {
  return JSON.parse(
    JSON.stringify(m, (_key, value: unknown) =>
      value instanceof Uint8Array
        ? `bytes:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}`
        : value,
    ),
  )
}

/** At least one message of every type, with edge values. */
const samples: Message[] = [
  { type: 'append', ...env, epoch: 3, prev: { seq: 0, epoch: 0 }, entries: [], leaderCommit: 0 },
  {
    type: 'append',
    ...env,
    epoch: 3,
    prev: { seq: 41, epoch: 2 },
    entries: entries(41, [
      [2, 'normal', 0],
      [3, 'epoch-start', 0],
      [3, 'normal', 100],
      [3, 'config', 12],
      [3, 'normal', 1],
    ]),
    leaderCommit: 40,
  },
  {
    type: 'append',
    ...env,
    epoch: 7,
    prev: { seq: 1000, epoch: 7 },
    entries: entries(1000, [[7, 'normal', 1024 * 1024]]),
    leaderCommit: 1000,
  },
  {
    type: 'append-response',
    ...env,
    epoch: 3,
    reject: false,
    matchSeq: 45,
    rejectedSeq: 0,
    hint: { seq: 0, epoch: 0 },
  },
  {
    type: 'append-response',
    ...env,
    epoch: MAX,
    reject: true,
    matchSeq: 0,
    rejectedSeq: MAX,
    hint: { seq: MAX - 1, epoch: MAX },
  },
  { type: 'heartbeat', ...env, epoch: 1, leaderCommit: 12 },
  { type: 'heartbeat-response', ...env, epoch: 1 },
  { type: 'pre-vote', ...env, epoch: 5, last: { seq: 99, epoch: 4 } },
  { type: 'pre-vote-response', ...env, epoch: 5, granted: true },
  { type: 'pre-vote-response', ...env, epoch: 5, granted: false },
  { type: 'request-vote', ...env, epoch: 5, last: { seq: 99, epoch: 4 }, transfer: false },
  { type: 'request-vote', ...env, epoch: 6, last: { seq: 0, epoch: 0 }, transfer: true },
  { type: 'vote-response', ...env, epoch: 5, granted: true },
  { type: 'vote-response', ...env, epoch: 0, granted: false },
  { type: 'timeout-now', ...env, epoch: 9 },
  {
    type: 'install-checkpoint',
    ...env,
    epoch: 4,
    checkpoint: { seq: 500, epoch: 3, ref: new Uint8Array(0) },
  },
  {
    type: 'install-checkpoint',
    ...env,
    epoch: 4,
    checkpoint: { seq: 500, epoch: 3, ref: bytes(3 * 1024 * 1024) },
  },
  // With the configuration at the checkpoint.
  {
    type: 'install-checkpoint',
    ...env,
    epoch: 4,
    checkpoint: { seq: 500, epoch: 3, ref: bytes(10), members: [A, B, 'm3'], learners: ['m4'] },
  },
  {
    type: 'install-checkpoint',
    ...env,
    epoch: 4,
    checkpoint: { seq: 7, epoch: 1, ref: new Uint8Array(0), members: [A], learners: [] },
  },
  { type: 'checkpoint-response', ...env, epoch: 4, reject: false, matchSeq: 500 },
  { type: 'checkpoint-response', ...env, epoch: 4, reject: true, matchSeq: 0 },
  // Short ids (the simulation's m1, m2) and non-ASCII ones travel too.
  { type: 'heartbeat', from: 'm1', to: 'm2', epoch: 2, leaderCommit: 0 },
  { type: 'heartbeat', from: 'mémbre-ü', to: '成员', epoch: 2, leaderCommit: 1 },
]

test('every message type round-trips, edge values, empty and large entries and checkpoints included', (t) => {
  const types = new Set(samples.map((m) => m.type))
  t.is(types.size, 11, 'the samples cover all 11 message types')
  t.true(
    samples.some((m) => m.type === 'append' && m.entries.some((e) => e.kind === 'config')),
    'a config entry travels',
  )
  for (const m of samples) {
    const encoded = encodeMessage(m)
    t.is(encoded[0], GROUP_WIRE_VERSION)
    const decoded = decodeMessage(encoded)
    t.deepEqual(plain(decoded), plain(m), m.type)
    t.is(Buffer.compare(encodeMessage(decoded), encoded), 0, `${m.type} re-encodes to the same bytes`)
  }
})

test('the encoding is compact: a heartbeat between two peer ids costs the ids and a few bytes', (t) => {
  const encoded = encodeMessage({ type: 'heartbeat', ...env, epoch: 300, leaderCommit: 100_000 })
  t.is(encoded.byteLength, 2 + (1 + A.length) + (1 + B.length) + 2 + 3)
})

test('entry data and checkpoint refs are views into the input, not copies', (t) => {
  const sample = samples[2] as Extract<Message, { type: 'append' }>
  const encoded = encodeMessage(sample)
  const decoded = decodeMessage(encoded) as typeof sample
  t.is(decoded.entries[0]?.data.buffer, encoded.buffer)
})

/** A random message of any type, with numbers spread over all varint sizes. */
function randomMessage(rng: Prng): Message {
  const num = (): number => {
    const bits = rng.int(54)
    return Math.min(MAX, Math.floor(rng.next() * 2 ** bits))
  }
  const id = (): string => {
    const length = 1 + rng.int(rng.chance(0.1) ? MAX_MEMBER_ID_BYTES : 60)
    return Array.from({ length }, () => String.fromCharCode(0x21 + rng.int(90))).join('')
  }
  const pos = () => ({ seq: num(), epoch: num() })
  const e = { from: id(), to: id(), epoch: num() }
  switch (rng.int(11)) {
    case 0: {
      const prev = { seq: rng.int(1_000_000), epoch: num() }
      const count = rng.chance(0.2) ? 0 : 1 + rng.int(20)
      const list: Entry[] = Array.from({ length: count }, (_, i) => ({
        seq: prev.seq + 1 + i,
        epoch: num(),
        kind: rng.chance(0.1) ? 'epoch-start' : rng.chance(0.1) ? 'config' : 'normal',
        data: bytes(rng.chance(0.3) ? 0 : rng.int(300), i),
      }))
      return { type: 'append', ...e, prev, entries: list, leaderCommit: num() }
    }
    case 1:
      return {
        type: 'append-response',
        ...e,
        reject: rng.chance(0.5),
        matchSeq: num(),
        rejectedSeq: num(),
        hint: pos(),
      }
    case 2:
      return { type: 'heartbeat', ...e, leaderCommit: num() }
    case 3:
      return { type: 'heartbeat-response', ...e }
    case 4:
      return { type: 'pre-vote', ...e, last: pos() }
    case 5:
      return { type: 'pre-vote-response', ...e, granted: rng.chance(0.5) }
    case 6:
      return { type: 'request-vote', ...e, last: pos(), transfer: rng.chance(0.5) }
    case 7:
      return { type: 'vote-response', ...e, granted: rng.chance(0.5) }
    case 8:
      return { type: 'timeout-now', ...e }
    case 9: {
      const checkpoint: Checkpoint = { seq: num(), epoch: num(), ref: bytes(rng.int(200)) }
      if (rng.chance(0.5)) {
        const ids = [...new Set(Array.from({ length: 1 + rng.int(7) }, id))]
        const split = 1 + rng.int(ids.length)
        checkpoint.members = ids.slice(0, split)
        checkpoint.learners = ids.slice(split)
      }
      return { type: 'install-checkpoint', ...e, checkpoint }
    }
    default:
      return { type: 'checkpoint-response', ...e, reject: rng.chance(0.5), matchSeq: num() }
  }
}

test('seeded random messages of every type round-trip', (t) => {
  const rng = createPrng(0x5eed)
  for (let i = 0; i < 3000; i++) {
    const m = randomMessage(rng)
    const decoded = decodeMessage(encodeMessage(m))
    if (!t.deepEqual(decoded, m, `message ${i} (${m.type})`)) return
  }
})

/** Damages a valid encoding the ways a network or a hostile peer would. */
function mutate(rng: Prng, input: Uint8Array): Uint8Array {
  const out = Uint8Array.from(input)
  switch (rng.int(6)) {
    case 0: {
      for (let n = 1 + rng.int(3); n > 0; n--) out[rng.int(out.length)] = rng.int(256)
      return out
    }
    case 1: {
      const i = rng.int(out.length)
      out[i] = (out[i] as number) ^ (1 << rng.int(8))
      return out
    }
    case 2:
      return out.subarray(0, rng.int(out.length))
    case 3: {
      const extra = Uint8Array.from({ length: 1 + rng.int(8) }, () => rng.int(256))
      const grown = new Uint8Array(out.length + extra.length)
      grown.set(out)
      grown.set(extra, out.length)
      return grown
    }
    case 4: {
      const at = rng.int(out.length + 1)
      const grown = new Uint8Array(out.length + 1)
      grown.set(out.subarray(0, at))
      grown[at] = rng.int(256)
      grown.set(out.subarray(at), at + 1)
      return grown
    }
    default: {
      const at = rng.int(out.length)
      const shrunk = new Uint8Array(out.length - 1)
      shrunk.set(out.subarray(0, at))
      shrunk.set(out.subarray(at + 1), at)
      return shrunk
    }
  }
}

test('fuzz: damaged encodings either throw GroupWireError or decode to a message that re-encodes to the same bytes', (t) => {
  const seed = 0xf0221
  const rng = createPrng(seed)
  let accepted = 0
  let refused = 0
  const small = samples.filter((m) => encodeMessage(m).byteLength < 4096)
  for (let i = 0; i < 20_000; i++) {
    const source = rng.chance(0.5) ? (small[rng.int(small.length)] as Message) : randomMessage(rng)
    const damaged = mutate(rng, encodeMessage(source))
    let decoded: Message
    try {
      decoded = decodeMessage(damaged)
    } catch (err) {
      if (!(err instanceof GroupWireError)) {
        t.fail(`seed ${seed} case ${i}: ${String(err)} is not a GroupWireError`)
        return
      }
      refused++
      continue
    }
    accepted++
    const again = encodeMessage(decoded)
    if (Buffer.compare(again, damaged) !== 0) {
      t.fail(`seed ${seed} case ${i}: accepted bytes do not re-encode identically`)
      return
    }
  }
  t.log(`${accepted} damaged inputs decoded canonically, ${refused} refused`)
  t.true(accepted > 100 && refused > 100, 'the fuzz exercised both outcomes')
})

test('a newer wire version is refused with a typed error that says to upgrade', (t) => {
  const encoded = encodeMessage({ type: 'heartbeat', ...env, epoch: 1, leaderCommit: 0 })
  encoded[0] = GROUP_WIRE_VERSION + 1
  const err = t.throws(() => decodeMessage(encoded), { instanceOf: GroupWireError })
  t.is(err?.code, 'ERR_GROUP_WIRE')
  t.regex(err?.message ?? '', /version 2 is newer .*upgrade/)
  encoded[0] = 0
  t.throws(() => decodeMessage(encoded), { instanceOf: GroupWireError, message: /version 0 is unknown/ })
})

/** Hand-built bytes: version, type, from, to, then the rest. */
function raw(type: number, rest: number[], from = [0x61], to = [0x62]): Uint8Array {
  return Uint8Array.from([GROUP_WIRE_VERSION, type, from.length, ...from, to.length, ...to, ...rest])
}

test('the decoder refuses what no encoder produces', (t) => {
  const refuse = (input: Uint8Array, message: RegExp, what: string): void => {
    t.throws(() => decodeMessage(input), { instanceOf: GroupWireError, message }, what)
  }
  // A heartbeat (type 3) is epoch then leaderCommit.
  t.deepEqual(decodeMessage(raw(3, [1, 2])), {
    type: 'heartbeat',
    from: 'a',
    to: 'b',
    epoch: 1,
    leaderCommit: 2,
  })
  refuse(new Uint8Array(0), /ends before its version/, 'empty input')
  refuse(raw(3, [1, 2, 0]), /trailing/, 'trailing bytes')
  refuse(raw(3, [1]), /ends inside its leaderCommit/, 'truncated')
  refuse(raw(0, [1]), /unknown type 0/, 'type 0')
  refuse(raw(12, [1]), /unknown type 12/, 'type 12')
  refuse(raw(3, [0x81, 0x00, 2]), /not minimally encoded/, 'non-minimal varint')
  // 2^53 as a varint: seven 0x80 bytes and then 0x10.
  refuse(
    raw(3, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 0]),
    /exceeds 2\^53/,
    'epoch beyond 2^53 - 1',
  )
  // MAX_SAFE_INTEGER itself is fine.
  const max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]
  t.is((decodeMessage(raw(3, [...max, 0])) as { epoch: number }).epoch, MAX)
  // Booleans are 0 or 1: a vote-response (8) with granted = 2.
  refuse(raw(8, [1, 2]), /granted is 2, not a boolean/, 'bad boolean')
  // An append (1) whose entry kind is 3 (2 is a config entry).
  t.is((decodeMessage(raw(1, [1, 0, 0, 0, 1, 1, 2, 0])) as { entries: Entry[] }).entries[0]?.kind, 'config')
  refuse(raw(1, [1, 0, 0, 0, 1, 1, 3, 0]), /unknown kind/, 'bad entry kind')
  // An install-checkpoint (10): seq 5, epoch 1, empty ref, then its configuration.
  t.like(decodeMessage(raw(10, [1, 5, 1, 0, 1, 1, 1, 0x61, 0])), {
    checkpoint: { seq: 5, members: ['a'], learners: [] },
  })
  refuse(raw(10, [1, 5, 1, 0]), /ends before its hasConfig/, 'checkpoint without its config flag')
  refuse(raw(10, [1, 5, 1, 0, 2]), /hasConfig is 2/, 'bad config flag')
  refuse(raw(10, [1, 5, 1, 0, 1, 0, 0]), /no voting member/, 'checkpoint config without a voter')
  refuse(raw(10, [1, 5, 1, 0, 1, 1, 1, 0x61, 1, 1, 0x61]), /listed twice/, 'a member twice')
  // An append claiming more entries than its bytes can hold.
  refuse(raw(1, [1, 0, 0, 0, 0xff, 0xff, 0x03]), /claims 65535 entries/, 'oversized entry count')
  // An append whose entry seqs would pass 2^53 - 1.
  refuse(raw(1, [1, ...max, 1, 0, 1, 1, 0, 0]), /exceed 2\^53/, 'entry seq beyond 2^53 - 1')
  refuse(raw(3, [1, 0], []), /from member id length 0/, 'empty member id')
  const long = Array.from({ length: MAX_MEMBER_ID_BYTES + 1 }, () => 0x61)
  refuse(
    Uint8Array.from([GROUP_WIRE_VERSION, 3, 0x81, 0x01, ...long, 1, 0x62, 1, 0]),
    /from member id length 129/,
    'member id too long',
  )
  refuse(raw(3, [1, 0], [0xc3, 0x28]), /not valid UTF-8/, 'invalid UTF-8 member id')
})

test('the encoder refuses messages the format cannot carry', (t) => {
  const refuse = (m: unknown, message: RegExp): void => {
    t.throws(() => encodeMessage(m as Message), { instanceOf: GroupWireError, message })
  }
  refuse({ type: 'heartbeat', ...env, epoch: -1, leaderCommit: 0 }, /epoch: -1/)
  refuse({ type: 'heartbeat', ...env, epoch: 1.5, leaderCommit: 0 }, /epoch: 1.5/)
  refuse({ type: 'heartbeat', ...env, epoch: 1, leaderCommit: MAX + 1 }, /leaderCommit/)
  refuse({ type: 'heartbeat', from: '', to: B, epoch: 1, leaderCommit: 0 }, /from: member id of 0 bytes/)
  refuse(
    { type: 'heartbeat', from: A, to: 'x'.repeat(129), epoch: 1, leaderCommit: 0 },
    /to: member id of 129/,
  )
  refuse({ type: 'vote-response', ...env, epoch: 1, granted: 1 }, /not a boolean/)
  refuse({ type: 'gossip', ...env, epoch: 1 }, /unknown type gossip/)
  refuse(
    {
      type: 'append',
      ...env,
      epoch: 2,
      prev: { seq: 5, epoch: 1 },
      entries: [{ seq: 7, epoch: 2, kind: 'normal', data: new Uint8Array(1) }],
      leaderCommit: 0,
    },
    /entries must follow prev/,
  )
  refuse(
    {
      type: 'append',
      ...env,
      epoch: 2,
      prev: { seq: 5, epoch: 1 },
      entries: [{ seq: 6, epoch: 2, kind: 'snapshot', data: new Uint8Array(1) }],
      leaderCommit: 0,
    },
    /entry kind snapshot/,
  )
  const cp = { type: 'install-checkpoint', ...env, epoch: 1 }
  refuse({ ...cp, checkpoint: { seq: 1, epoch: 1, ref: new Uint8Array(0), members: [] } }, /no voting member/)
  refuse(
    { ...cp, checkpoint: { seq: 1, epoch: 1, ref: new Uint8Array(0), members: [A], learners: [A] } },
    /listed twice/,
  )
})
