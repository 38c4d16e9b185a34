import test from 'ava'
import { decodeMembership, encodeMembership } from '../../../src/agent/group/membership-codec.ts'
import type { Entry, GroupEvent, Membership, Ready } from '../../../src/agent/group/types.ts'
import { CorruptLogError, MembershipChangeError, NotPrimaryError } from '../../../src/errors/index.ts'
import { bytes, elect, MemoryStorage, makeMember, ofType, take } from './harness.ts'

/** The rules of single-member membership changes, one member driven by hand. */

type Member = ReturnType<typeof makeMember>

const ack = (m: Member, from: string, matchSeq: number) =>
  m.step({
    type: 'append-response',
    from,
    to: m.id,
    epoch: m.status().epoch,
    reject: false,
    matchSeq,
    rejectedSeq: 0,
    hint: { seq: 0, epoch: 0 },
  })

const configEntry = (seq: number, epoch: number, m: Membership): Entry => ({
  seq,
  epoch,
  kind: 'config',
  data: encodeMembership(m),
})

const normal = (seq: number, epoch: number): Entry => ({ seq, epoch, kind: 'normal', data: bytes(`e${seq}`) })

const eventsOf = <T extends GroupEvent['type']>(rd: Ready<number>, type: T) =>
  rd.events.filter((e): e is Extract<GroupEvent, { type: T }> => e.type === type)

/** `a`, primary of [a, b, c] in epoch 1 with its epoch start (entry 1) committed (b acknowledged it). */
function primaryA(
  options: Parameters<typeof makeMember>[1] = {},
  voters = ['b'],
): { a: Member; storage: MemoryStorage } {
  const storage = new MemoryStorage()
  const a = makeMember('a', options)
  elect(a, voters, storage)
  for (const v of voters) ack(a, v, a.status().lastSeq)
  take(a, storage)
  return { a, storage }
}

test('a configuration round-trips through its codec, and the decoder refuses what no encoder makes', (t) => {
  const m = { members: ['12D3KooWabc', 'm2', 'mémbre'], learners: ['m4'] }
  t.deepEqual(decodeMembership(encodeMembership(m)), m)
  const encoded = encodeMembership({ members: ['a'], learners: [] })
  t.deepEqual([...encoded], [1, 1, 1, 0x61, 0])
  const refuse = (input: number[], message: RegExp) =>
    t.throws(() => decodeMembership(Uint8Array.from(input), 7), { instanceOf: CorruptLogError, message })
  refuse([2, 1, 1, 0x61, 0], /config entry 7: configuration version 2/)
  refuse([1, 1, 1, 0x61, 0, 0], /trailing/)
  refuse([1, 1, 1, 0x61], /ends/)
  refuse([1, 0, 0], /no voting member/)
  refuse([1, 1, 1, 0x61, 1, 1, 0x61], /listed twice/)
  refuse([1, 1, 2, 0xc3, 0x28, 0], /not valid UTF-8/)
  t.throws(() => encodeMembership({ members: [], learners: ['a'] }), { message: /no voting member/ })
})

test('a member is added as a learner by one config entry that takes effect before it commits', (t) => {
  const { a, storage } = primaryA()
  const seq = a.addMember('d')
  const rd = take(a, storage)
  const [entry] = rd.entriesToPersist
  t.like(entry, { seq, kind: 'config' })
  t.deepEqual(decodeMembership(entry!.data), { members: ['a', 'b', 'c'], learners: ['d'] })
  t.deepEqual(eventsOf(rd, 'config-changed'), [
    { type: 'config-changed', members: ['a', 'b', 'c'], learners: ['d'], seq, committed: false },
  ])
  t.like(a.status(), { members: ['a', 'b', 'c'], learners: ['d'], configSeq: seq, pendingConfigSeq: seq })
  t.like(
    a.status().followers.find((f) => f.member === 'd'),
    { membership: 'learner', state: 'probe' },
  )
  t.deepEqual(
    ofType(rd, 'append')
      .filter((m) => m.to === 'd')
      .map((m) => m.entries.map((e) => e.kind)),
    [['config']],
    'the new member is sent the log by the ordinary probe',
  )
  ack(a, 'b', seq)
  t.deepEqual(eventsOf(take(a, storage), 'config-changed'), [
    { type: 'config-changed', members: ['a', 'b', 'c'], learners: ['d'], seq, committed: true },
  ])
  t.is(a.status().pendingConfigSeq, undefined)
})

test('a membership change is refused with a typed error unless it is exactly one change by a settled primary', (t) => {
  const shadow = makeMember('b')
  t.throws(() => shadow.addMember('d'), { instanceOf: NotPrimaryError })

  // Elected, but its epoch start is not committed yet (Ongaro's 2015 single-server change bug).
  const fresh = makeMember('a')
  elect(fresh, ['b'])
  const early = t.throws(() => fresh.addMember('d'), { instanceOf: MembershipChangeError })
  t.is(early?.code, 'ERR_MEMBERSHIP_PENDING')
  t.regex(early?.message ?? '', /not committed an entry of epoch 1/)

  const { a } = primaryA()
  const invalid = (members: string[], message: RegExp) => {
    const err = t.throws(() => a.proposeMembers(members), { instanceOf: MembershipChangeError, message })
    t.is(err?.code, 'ERR_MEMBERSHIP_INVALID')
  }
  invalid(['a', 'b', 'c'], /nothing to change/)
  invalid(
    ['a', 'b', 'c', 'd', 'e'],
    /one member may be added or removed at a time, this would change \+d \+e/,
  )
  invalid(['a', 'b', 'd'], /\+d -c/)
  invalid(['a', 'b', 'b', 'c', 'd'], /twice/)
  t.throws(() => a.removeMember('z'), { instanceOf: MembershipChangeError, message: /z is not a member/ })

  a.addMember('d')
  const pending = t.throws(() => a.removeMember('c'), { instanceOf: MembershipChangeError })
  t.is(pending?.code, 'ERR_MEMBERSHIP_PENDING')
  t.regex(pending?.message ?? '', /change at entry 2 is not committed yet/)

  const { a: handing } = primaryA()
  handing.transferLeadership('b')
  t.throws(() => handing.addMember('d'), {
    instanceOf: NotPrimaryError,
    message: /handing the primary role to b/,
  })

  const single = makeMember('a', { members: ['a'] })
  single.campaign()
  take(single)
  t.like(single.status(), { role: 'primary', commitSeq: 1 })
  t.throws(() => single.removeMember('a'), { instanceOf: MembershipChangeError, message: /no voting member/ })
})

test('a learner neither counts toward a majority nor is asked for votes, and never campaigns', (t) => {
  const { a, storage } = primaryA()
  const seq = a.addMember('d')
  take(a, storage)
  ack(a, 'd', seq)
  take(a, storage)
  t.is(a.status().commitSeq, seq - 1, 'a and the learner d hold it: not a majority of the voters a, b, c')
  ack(a, 'c', seq)
  take(a, storage)
  t.is(a.status().commitSeq, seq)

  const b = makeMember('b', { members: ['a', 'b', 'c'], config: { learners: ['d'] } })
  for (let i = 0; i < 25 && b.status().role === 'shadow'; i++) b.tick()
  t.deepEqual(
    ofType(take(b), 'pre-vote').map((m) => m.to),
    ['a', 'c'],
  )

  const d = makeMember('d', { members: ['a', 'b', 'c'], config: { learners: ['d'] } })
  for (let i = 0; i < 200; i++) d.tick()
  t.is(d.status().role, 'shadow')
  t.deepEqual(eventsOf(take(d), 'election-started'), [])
  d.step({ type: 'timeout-now', from: 'a', to: 'd', epoch: 1 })
  t.deepEqual(take(d).messages, [], 'not even when told to')
})

test('the primary promotes a caught-up learner to voter by a second config entry, and the majority grows', (t) => {
  const { a, storage } = primaryA({ config: { catchUpEntries: 2 } })
  const added = a.addMember('d')
  take(a, storage)
  ack(a, 'b', added)
  take(a, storage)
  for (let i = 0; i < 5; i++) a.propose(bytes(`op${i}`))
  take(a, storage)
  ack(a, 'd', added)
  take(a, storage)
  t.deepEqual(a.status().learners, ['d'], 'd holds its own config entry but is 5 entries behind')
  ack(a, 'd', a.status().lastSeq - 2)
  const rd = take(a, storage)
  const promoted = a.status().configSeq
  t.true(promoted > added)
  t.like(a.status(), { members: ['a', 'b', 'c', 'd'], learners: [], pendingConfigSeq: promoted })
  t.deepEqual(decodeMembership(rd.entriesToPersist.at(-1)!.data), {
    members: ['a', 'b', 'c', 'd'],
    learners: [],
  })

  // Four voters: a majority is three. b alone with a is no longer enough.
  ack(a, 'b', promoted)
  take(a, storage)
  t.true(a.status().commitSeq < promoted)
  ack(a, 'd', promoted)
  take(a, storage)
  t.is(a.status().commitSeq, promoted)
})

test('the majority follows the latest configuration before it commits, and a removed voter no longer counts', (t) => {
  const { a, storage } = primaryA()
  const seq = a.removeMember('c')
  take(a, storage)
  ack(a, 'c', seq)
  take(a, storage)
  t.is(a.status().commitSeq, seq - 1, 'c is out as soon as the change is appended')
  ack(a, 'b', seq)
  take(a, storage)
  t.is(a.status().commitSeq, seq)
  t.like(
    a.status().followers.find((f) => f.member === 'c'),
    { membership: 'leaving' },
  )
  for (let i = 0; i <= 10; i++) {
    a.tick()
    take(a, storage)
  }
  t.deepEqual(
    a.status().followers.map((f) => f.member),
    ['b'],
    'the removed member is told for an election timeout, then forgotten',
  )
})

test('check-quorum counts the voters of the latest configuration only', (t) => {
  const { a, storage } = primaryA()
  a.addMember('d')
  take(a, storage)
  for (let i = 0; i < 30; i++) {
    a.step({ type: 'heartbeat-response', from: 'd', to: 'a', epoch: 1 })
    a.tick()
  }
  t.is(a.status().role, 'shadow', 'a learner answering is no majority')
})

test('a member that learns its removal is committed reports it and stops campaigning', (t) => {
  const c = makeMember('c')
  c.step({
    type: 'append',
    from: 'a',
    to: 'c',
    epoch: 1,
    prev: { seq: 0, epoch: 0 },
    entries: [normal(1, 1), configEntry(2, 1, { members: ['a', 'b'], learners: [] })],
    leaderCommit: 1,
  })
  const first = take(c)
  t.deepEqual(eventsOf(first, 'config-changed'), [
    { type: 'config-changed', members: ['a', 'b'], learners: [], seq: 2, committed: false },
  ])
  t.deepEqual(eventsOf(first, 'removed'), [])
  t.false(c.status().removed)
  // Not committed yet: c may still be needed by the old configuration, so it may still campaign.
  for (let i = 0; i < 25 && c.status().role === 'shadow'; i++) c.tick()
  t.is(c.status().role, 'pre-candidate')

  c.step({ type: 'heartbeat', from: 'a', to: 'c', epoch: 1, leaderCommit: 2 })
  const rd = take(c)
  t.deepEqual(eventsOf(rd, 'removed'), [{ type: 'removed', seq: 2 }])
  t.true(c.status().removed)
  for (let i = 0; i < 200; i++) c.tick()
  t.deepEqual(eventsOf(take(c), 'election-started'), [])
})

test('a primary that removes itself leads until the removal commits, then hands over and steps down', (t) => {
  const { a, storage } = primaryA()
  const seq = a.removeMember('a')
  take(a, storage)
  t.like(a.status(), { role: 'primary', members: ['b', 'c'] })
  ack(a, 'b', seq)
  take(a, storage)
  t.is(a.status().commitSeq, seq - 1, 'its own copy does not count: b alone is not a majority of b, c')
  ack(a, 'c', seq)
  const rd = take(a, storage)
  t.is(a.status().commitSeq, seq)
  t.like(eventsOf(rd, 'transfer-started')[0], { to: 'b' })
  t.deepEqual(
    ofType(rd, 'timeout-now').map((m) => m.to),
    ['b'],
    'b holds every entry: it is told to take over at once',
  )
  t.like(eventsOf(rd, 'stepped-down')[0], { reason: 'removed', commitSeq: seq })
  t.like(a.status(), { role: 'shadow', removed: true })
  t.deepEqual(eventsOf(rd, 'removed'), [{ type: 'removed', seq }])
  for (let i = 0; i < 100; i++) a.tick()
  t.deepEqual(take(a).messages, [], 'it does not campaign')
})

test('a restarted member takes its configuration from its stored log or checkpoint, not from GroupConfig', (t) => {
  const { a, storage } = primaryA()
  const seq = a.addMember('d')
  take(a, storage)
  ack(a, 'b', seq)
  take(a, storage)
  const restarted = makeMember('a', { storage: storage.load() })
  t.like(restarted.status(), { members: ['a', 'b', 'c'], learners: ['d'], configSeq: seq })

  // Compacted past the config entry: the checkpoint carries the configuration at its seq.
  a.compact(seq, bytes('cp'))
  take(a, storage)
  t.deepEqual(storage.load().checkpoint?.members, ['a', 'b', 'c'])
  t.deepEqual(storage.load().checkpoint?.learners, ['d'])
  t.deepEqual(storage.load().entries, [])
  const fromCheckpoint = makeMember('a', { storage: storage.load() })
  t.like(fromCheckpoint.status(), { members: ['a', 'b', 'c'], learners: ['d'], configSeq: seq })
})

test('a new member installs the configuration with a checkpoint, and a joiner is never removed by old configurations', (t) => {
  const { a, storage } = primaryA({ members: ['a', 'b', 'c', 'x'] }, ['b', 'c'])
  // x leaves, then d joins; the log up to here is compacted.
  const out = a.removeMember('x')
  take(a, storage)
  ack(a, 'b', out)
  ack(a, 'c', out)
  take(a, storage)
  const join = a.addMember('d')
  take(a, storage)
  ack(a, 'b', join)
  take(a, storage)
  a.compact(join, bytes('cp'))
  take(a, storage)

  const d = makeMember('d', { members: ['a', 'b', 'c'], config: { learners: ['d'] } })
  // d answers a heartbeat: what it needs is compacted.
  a.step({ type: 'heartbeat-response', from: 'd', to: 'a', epoch: 1 })
  const [install] = ofType(take(a, storage), 'install-checkpoint')
  t.like(install?.checkpoint, { seq: join, members: ['a', 'b', 'c'], learners: ['d'] })
  d.step(install!)
  const rd = take(d)
  t.like(rd.checkpoint, { restore: true, checkpoint: { seq: join, members: ['a', 'b', 'c'] } })
  t.like(d.status(), { members: ['a', 'b', 'c'], learners: ['d'], configSeq: join, removed: false })

  // A joiner replaying the log from the start meets x's removal, which does not include it either.
  const e = makeMember('e', { members: ['a', 'b', 'c'], config: { learners: ['e'] } })
  e.step({
    type: 'append',
    from: 'a',
    to: 'e',
    epoch: 1,
    prev: { seq: 0, epoch: 0 },
    entries: [normal(1, 1), configEntry(2, 1, { members: ['a', 'b', 'c'], learners: [] })],
    leaderCommit: 2,
  })
  const replay = take(e)
  t.deepEqual(eventsOf(replay, 'removed'), [])
  t.false(e.status().removed)
})

test('cutting an uncommitted config entry brings the configuration before it back', (t) => {
  const b = makeMember('b')
  b.step({
    type: 'append',
    from: 'a',
    to: 'b',
    epoch: 1,
    prev: { seq: 0, epoch: 0 },
    entries: [normal(1, 1), configEntry(2, 1, { members: ['a', 'b', 'c'], learners: ['d'] })],
    leaderCommit: 1,
  })
  take(b)
  t.deepEqual(b.status().learners, ['d'])
  b.step({
    type: 'append',
    from: 'c',
    to: 'b',
    epoch: 2,
    prev: { seq: 1, epoch: 1 },
    entries: [normal(2, 2)],
    leaderCommit: 2,
  })
  const rd = take(b)
  t.is(rd.truncateFrom, 2)
  t.deepEqual(eventsOf(rd, 'config-changed'), [
    { type: 'config-changed', members: ['a', 'b', 'c'], learners: [], seq: 0, committed: true },
  ])
})

test("a new primary's epoch-start data is made from the machine's last entry, skipping config entries", (t) => {
  const seen: (string | undefined)[] = []
  const a = makeMember('a', {
    storage: {
      hardState: { epoch: 1, votedFor: undefined, commitSeq: 2 },
      entries: [normal(1, 1), configEntry(2, 1, { members: ['a', 'b', 'c'], learners: ['d'] })],
    },
    epochStartData: (_epoch, _seq, previous) => {
      seen.push(previous && new TextDecoder().decode(previous.data))
      return new Uint8Array(0)
    },
  })
  elect(a, ['b'])
  t.deepEqual(seen, ['e1'])
})

test('a joining member hears the primary although it is in no configuration yet', (t) => {
  const d = makeMember('d', { members: ['a', 'b', 'c'], config: { learners: ['d'] } })
  d.step({
    type: 'append',
    from: 'z',
    to: 'd',
    epoch: 3,
    prev: { seq: 0, epoch: 0 },
    entries: [normal(1, 3)],
    leaderCommit: 1,
  })
  const rd = take(d)
  t.like(ofType(rd, 'append-response')[0], { to: 'z', reject: false, matchSeq: 1 })
  t.like(d.status(), { leader: 'z', epoch: 3, commitSeq: 1 })
})
