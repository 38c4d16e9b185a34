import test from 'ava'
import { ReplicaGroupMember } from '../../../src/agent/group/group.ts'
import type { Entry } from '../../../src/agent/group/types.ts'
import { NotPrimaryError } from '../../../src/errors/index.ts'
import { bytes, CONFIG, elect, MemoryStorage, makeMember, ofType, take } from './harness.ts'

const entry = (seq: number, epoch: number, data = `e${seq}`): Entry => ({
  seq,
  epoch,
  kind: 'normal',
  data: bytes(data),
})

test('a vote is persisted in the same Ready that sends it', (t) => {
  const storage = new MemoryStorage()
  const a = makeMember('a')
  a.step({ type: 'request-vote', from: 'b', to: 'a', epoch: 1, last: { seq: 0, epoch: 0 }, transfer: false })
  const rd = take(a, storage)
  t.deepEqual(rd.hardState, { epoch: 1, votedFor: 'b', commitSeq: 0 })
  t.deepEqual(
    ofType(rd, 'vote-response').map((m) => [m.to, m.epoch, m.granted]),
    [['b', 1, true]],
  )
})

test('a member votes once per epoch, even across a crash and restart', (t) => {
  const storage = new MemoryStorage()
  const a = makeMember('a')
  a.step({ type: 'request-vote', from: 'b', to: 'a', epoch: 1, last: { seq: 0, epoch: 0 }, transfer: false })
  take(a, storage)

  const restarted = makeMember('a', { storage: storage.load() })
  restarted.step({
    type: 'request-vote',
    from: 'c',
    to: 'a',
    epoch: 1,
    last: { seq: 5, epoch: 1 },
    transfer: false,
  })
  const rd = take(restarted, storage)
  t.deepEqual(
    ofType(rd, 'vote-response').map((m) => [m.to, m.granted]),
    [['c', false]],
  )
  t.is(restarted.status().votedFor, 'b')
  // The same candidate asking again gets the same answer (its request may have been duplicated).
  restarted.step({
    type: 'request-vote',
    from: 'b',
    to: 'a',
    epoch: 1,
    last: { seq: 0, epoch: 0 },
    transfer: false,
  })
  t.true(ofType(take(restarted, storage), 'vote-response')[0]!.granted)
})

test('a candidate whose log is behind gets no vote', (t) => {
  const a = makeMember('a', {
    storage: {
      hardState: { epoch: 2, votedFor: undefined, commitSeq: 1 },
      entries: [entry(1, 1), entry(2, 2)],
    },
  })
  a.step({ type: 'request-vote', from: 'b', to: 'a', epoch: 3, last: { seq: 5, epoch: 1 }, transfer: false })
  a.step({ type: 'request-vote', from: 'c', to: 'a', epoch: 3, last: { seq: 1, epoch: 2 }, transfer: false })
  const rd = take(a)
  t.deepEqual(
    ofType(rd, 'vote-response').map((m) => [m.to, m.granted]),
    [
      ['b', false],
      ['c', false],
    ],
  )
  a.step({ type: 'request-vote', from: 'c', to: 'a', epoch: 3, last: { seq: 2, epoch: 2 }, transfer: false })
  t.true(ofType(take(a), 'vote-response')[0]!.granted)
})

test('a message from an older epoch is refused and answered with the newer epoch', (t) => {
  const a = makeMember('a', {
    storage: { hardState: { epoch: 3, votedFor: undefined, commitSeq: 0 }, entries: [entry(1, 3)] },
  })
  a.step({
    type: 'append',
    from: 'b',
    to: 'a',
    epoch: 2,
    prev: { seq: 0, epoch: 0 },
    entries: [entry(1, 2, 'stale')],
    leaderCommit: 1,
  })
  a.step({ type: 'heartbeat', from: 'b', to: 'a', epoch: 2, leaderCommit: 1 })
  const rd = take(a)
  const [refusal] = ofType(rd, 'append-response')
  t.true(refusal!.reject)
  t.is(refusal!.epoch, 3)
  t.is(ofType(rd, 'heartbeat-response')[0]!.epoch, 3)
  t.is(a.status().commitSeq, 0)
  t.is(a.readLog(1)[0]!.epoch, 3)
})

test('a primary that hears of a newer epoch steps down and never releases its pending outputs', (t) => {
  const a = makeMember('a')
  elect(a, ['b'])
  const seq = a.propose(bytes('x'), [7])
  take(a)
  a.step({ type: 'heartbeat-response', from: 'c', to: 'a', epoch: 5 })
  const rd = take(a)
  t.is(a.status().role, 'shadow')
  t.is(a.status().epoch, 5)
  t.deepEqual(rd.outputsToRelease, [])
  t.like(
    rd.events.find((e) => e.type === 'outputs-discarded'),
    { count: 1, fromSeq: seq },
  )
  t.like(
    rd.events.find((e) => e.type === 'stepped-down'),
    { reason: 'newer-epoch', epoch: 1 },
  )
  t.throws(() => a.propose(bytes('y')), { instanceOf: NotPrimaryError })
})

test('outputs are released only in the Ready after their entry is committed', (t) => {
  const a = makeMember('a')
  elect(a, ['b'])
  const seq = a.propose(bytes('x'), [1, 2])
  t.deepEqual(take(a).outputsToRelease, [])
  a.step({
    type: 'append-response',
    from: 'b',
    to: 'a',
    epoch: 1,
    reject: false,
    matchSeq: seq,
    rejectedSeq: 0,
    hint: { seq: 0, epoch: 0 },
  })
  const rd = take(a)
  t.is(a.status().commitSeq, seq)
  t.deepEqual(
    rd.outputsToRelease.map((o) => o.output),
    [1, 2],
  )
  t.deepEqual(
    rd.committedToApply.map((e) => e.seq),
    [1, 2],
  )
})

test('the primary counts its own copy toward a majority only once it is persisted', (t) => {
  const a = makeMember('a')
  elect(a, ['b'])
  const seq = a.propose(bytes('x'))
  // b acknowledges before a has advanced the Ready that persists the entry: one of three copies is durable.
  const rd = a.ready()
  a.step({
    type: 'append-response',
    from: 'b',
    to: 'a',
    epoch: 1,
    reject: false,
    matchSeq: seq,
    rejectedSeq: 0,
    hint: { seq: 0, epoch: 0 },
  })
  t.is(a.status().commitSeq, 1)
  a.advance(rd)
  t.is(a.status().commitSeq, seq)
})

test('an entry of an earlier epoch is committed only through an entry of the current epoch', (t) => {
  // Raft's figure 8: a copy of an old-epoch entry on a majority is not enough, a later primary could still
  // overwrite it. It commits once the new primary's epoch-start entry is on a majority.
  const a = makeMember('a', {
    members: ['a', 'b', 'c', 'd', 'e'],
    config: { maxBatchEntries: 1 },
    storage: {
      hardState: { epoch: 3, votedFor: undefined, commitSeq: 1 },
      entries: [entry(1, 1), entry(2, 2)],
    },
  })
  elect(a, ['b', 'c'])
  t.is(a.readLog(3)[0]!.kind, 'epoch-start')
  const ack = (from: string, matchSeq: number) =>
    a.step({
      type: 'append-response',
      from,
      to: 'a',
      epoch: 4,
      reject: false,
      matchSeq,
      rejectedSeq: 0,
      hint: { seq: 0, epoch: 0 },
    })
  ack('b', 2)
  ack('c', 2)
  take(a)
  t.is(a.status().commitSeq, 1, 'entry 2 is on a, b and c but from epoch 2')
  ack('b', 3)
  take(a)
  t.is(a.status().commitSeq, 1)
  ack('c', 3)
  take(a)
  t.is(a.status().commitSeq, 3)
})

test("a shadow commits only up to what it has matched against the primary's log", (t) => {
  const a = makeMember('a', {
    storage: {
      hardState: { epoch: 1, votedFor: undefined, commitSeq: 1 },
      entries: [entry(1, 1), entry(2, 1, 'stale'), entry(3, 1, 'stale')],
    },
  })
  a.step({
    type: 'append',
    from: 'b',
    to: 'a',
    epoch: 2,
    prev: { seq: 1, epoch: 1 },
    entries: [],
    leaderCommit: 3,
  })
  const rd = take(a)
  t.is(a.status().commitSeq, 1)
  t.deepEqual(
    rd.committedToApply.map((e) => e.seq),
    [1],
  )
  t.like(ofType(rd, 'append-response')[0], { reject: false, matchSeq: 1 })
})

test('a shadow cuts its conflicting uncommitted tail and takes the primary entries', (t) => {
  const storage = new MemoryStorage()
  storage.save({
    entriesToPersist: [entry(1, 1), entry(2, 1, 'old'), entry(3, 1, 'old')],
    hardState: { epoch: 1, votedFor: undefined, commitSeq: 1 },
  })
  const a = makeMember('a', { storage: storage.load() })
  a.step({
    type: 'append',
    from: 'b',
    to: 'a',
    epoch: 2,
    prev: { seq: 1, epoch: 1 },
    entries: [entry(2, 2, 'new')],
    leaderCommit: 2,
  })
  const rd = take(a, storage)
  t.is(rd.truncateFrom, 2)
  t.deepEqual(
    storage.load().entries.map((e) => [e.seq, e.epoch]),
    [
      [1, 1],
      [2, 2],
    ],
  )
  t.like(rd.events[0], { type: 'log-truncated', fromSeq: 2, dropped: 2 })
  t.deepEqual(
    rd.committedToApply.map((e) => new TextDecoder().decode(e.data)),
    ['e1', 'new'],
  )
})

test('a rejected append carries a hint that skips a whole conflicting epoch', (t) => {
  const a = makeMember('a', {
    storage: {
      hardState: { epoch: 3, votedFor: undefined, commitSeq: 1 },
      entries: [entry(1, 1), entry(2, 2), entry(3, 2), entry(4, 2), entry(5, 2)],
    },
  })
  a.step({
    type: 'append',
    from: 'b',
    to: 'a',
    epoch: 4,
    prev: { seq: 6, epoch: 3 },
    entries: [],
    leaderCommit: 1,
  })
  const [reject] = ofType(take(a), 'append-response')
  t.like(reject, { reject: true, rejectedSeq: 6, hint: { seq: 5, epoch: 2 } })
  // The primary has epoch 1 at 5: every entry of epoch 2 here conflicts, skip them all.
  a.step({
    type: 'append',
    from: 'b',
    to: 'a',
    epoch: 4,
    prev: { seq: 5, epoch: 1 },
    entries: [],
    leaderCommit: 1,
  })
  t.like(ofType(take(a), 'append-response')[0], { reject: true, rejectedSeq: 5, hint: { seq: 1, epoch: 1 } })
})

test('the primary probes one message at a time, then streams within the inflight byte window', (t) => {
  const a = makeMember('a', { config: { maxBatchEntries: 4, maxInflightBytes: 200 } })
  elect(a, ['b'])
  for (let i = 0; i < 40; i++) a.propose(new Uint8Array(20))
  // c has not answered the first probe: nothing more goes to it.
  t.deepEqual(
    ofType(take(a), 'append').filter((m) => m.to === 'c'),
    [],
  )

  a.step({
    type: 'append-response',
    from: 'c',
    to: 'a',
    epoch: 1,
    reject: false,
    matchSeq: 1,
    rejectedSeq: 0,
    hint: { seq: 0, epoch: 0 },
  })
  const sent = ofType(take(a), 'append').filter((m) => m.to === 'c')
  const entryCount = sent.reduce((n, m) => n + m.entries.length, 0)
  const sentBytes = sent.reduce((n, m) => n + m.entries.reduce((b, e) => b + e.data.byteLength + 16, 0), 0)
  t.true(sent.every((m) => m.entries.length <= 4))
  t.true(sentBytes <= 200 + 4 * 36, `${sentBytes} bytes in flight`)
  t.true(entryCount > 1 && entryCount < 40)
  const status = a.status().followers.find((f) => f.member === 'c')!
  t.like(status, { state: 'replicate', matchSeq: 1, lag: 40 })
  t.is(status.nextSeq, 2 + entryCount)
})

test('the failover drill waits until the target has every entry, then sends TimeoutNow', (t) => {
  const a = makeMember('a')
  elect(a, ['b'])
  const seq = a.propose(bytes('x'))
  take(a)
  a.transferLeadership('c')
  t.throws(() => a.propose(bytes('y')), { instanceOf: NotPrimaryError })
  t.deepEqual(ofType(take(a), 'timeout-now'), [])
  a.step({
    type: 'append-response',
    from: 'c',
    to: 'a',
    epoch: 1,
    reject: false,
    matchSeq: seq,
    rejectedSeq: 0,
    hint: { seq: 0, epoch: 0 },
  })
  const rd = take(a)
  t.deepEqual(
    ofType(rd, 'timeout-now').map((m) => m.to),
    ['c'],
  )
})

test('a shadow told TimeoutNow campaigns at once, and the members following the primary answer it', (t) => {
  const c = makeMember('c')
  c.step({ type: 'heartbeat', from: 'a', to: 'c', epoch: 1, leaderCommit: 0 })
  take(c)
  c.step({ type: 'timeout-now', from: 'a', to: 'c', epoch: 1 })
  const [vote] = ofType(take(c), 'request-vote')
  t.like(vote, { epoch: 2, transfer: true })

  // b heard from the primary just now: it ignores an ordinary candidate but answers a handover.
  const b = makeMember('b')
  b.step({ type: 'heartbeat', from: 'a', to: 'b', epoch: 1, leaderCommit: 0 })
  take(b)
  b.step({ ...vote!, to: 'b', transfer: false })
  t.deepEqual(take(b).messages, [])
  b.step({ ...vote!, to: 'b' })
  t.true(ofType(take(b), 'vote-response')[0]!.granted)
})

test('a primary that cannot reach a majority for electionTicks steps down', (t) => {
  const a = makeMember('a')
  elect(a, ['b'])
  for (let i = 0; i < 30; i++) {
    a.step({ type: 'heartbeat-response', from: 'b', to: 'a', epoch: 1 })
    a.tick()
  }
  t.is(a.status().role, 'primary', 'one shadow answering is a majority of three')
  take(a)
  for (let i = 0; i < 9; i++) a.tick()
  t.is(a.status().role, 'primary')
  a.tick()
  t.is(a.status().role, 'shadow')
  t.is(a.status().leader, undefined)
  t.like(
    take(a).events.find((e) => e.type === 'stepped-down'),
    { reason: 'lost-quorum', epoch: 1 },
  )
})

test('a lagging shadow whose entries were compacted is sent InstallCheckpoint and restores from it', (t) => {
  const a = makeMember('a')
  elect(a, ['b'])
  for (let i = 0; i < 5; i++) a.propose(bytes(`op${i}`))
  take(a)
  a.step({
    type: 'append-response',
    from: 'b',
    to: 'a',
    epoch: 1,
    reject: false,
    matchSeq: 6,
    rejectedSeq: 0,
    hint: { seq: 0, epoch: 0 },
  })
  take(a)
  t.is(a.status().appliedSeq, 6)
  a.compact(5, bytes('ckpt-5'))
  const compacted = take(a)
  t.like(compacted.checkpoint, { restore: false, checkpoint: { seq: 5, epoch: 1 } })

  // c comes back: its heartbeat answer unpauses the probe, and what it needs is compacted.
  a.step({ type: 'heartbeat-response', from: 'c', to: 'a', epoch: 1 })
  const rd = take(a)
  const [install] = ofType(rd, 'install-checkpoint')
  t.like(install, { to: 'c', checkpoint: { seq: 5, epoch: 1 } })
  t.like(
    rd.events.find((e) => e.type === 'checkpoint-sent'),
    { to: 'c', seq: 5 },
  )

  const cStorage = new MemoryStorage()
  const c = makeMember('c')
  c.step(install!)
  const restored = take(c, cStorage)
  t.like(restored.checkpoint, { restore: true, checkpoint: { seq: 5 } })
  t.like(ofType(restored, 'checkpoint-response')[0], { reject: false, matchSeq: 5 })
  t.like(c.status(), { commitSeq: 5, appliedSeq: 5, firstSeq: 6 })
  t.is(cStorage.load().checkpoint?.seq, 5)

  a.step(ofType(restored, 'checkpoint-response')[0]!)
  const next = ofType(take(a), 'append').find((m) => m.to === 'c')!
  t.deepEqual(next.prev, { seq: 5, epoch: 1 })
  t.deepEqual(
    next.entries.map((e) => e.seq),
    [6],
  )
})

test('a new primary appends an epoch-start entry whose data the caller may provide', (t) => {
  const a = new ReplicaGroupMember<number>({
    id: 'a',
    config: { ...CONFIG, members: ['a', 'b', 'c'] },
    random: () => 0.5,
    storage: { hardState: { epoch: 1, votedFor: undefined, commitSeq: 1 }, entries: [entry(1, 1, 'prev')] },
    epochStartData: (epoch, seq, previous) =>
      bytes(`start ${epoch} at ${seq} after ${new TextDecoder().decode(previous!.data)}`),
  })
  const rd = elect(a, ['b'])
  t.like(rd.entriesToPersist[0], { seq: 2, epoch: 2, kind: 'epoch-start' })
  t.is(new TextDecoder().decode(rd.entriesToPersist[0]!.data), 'start 2 at 2 after prev')
  t.true(ofType(rd, 'append').every((m) => m.entries[0]?.kind === 'epoch-start'))
})

test('outputs of entries committed before a primary steps down are still released', (t) => {
  const a = makeMember('a')
  elect(a, ['b'])
  const seq = a.propose(bytes('x'), [1])
  a.propose(bytes('y'), [2])
  take(a)
  a.step({
    type: 'append-response',
    from: 'b',
    to: 'a',
    epoch: 1,
    reject: false,
    matchSeq: seq,
    rejectedSeq: 0,
    hint: { seq: 0, epoch: 0 },
  })
  // Deposed before the Ready that would have released output 1 was taken.
  a.step({ type: 'heartbeat-response', from: 'c', to: 'a', epoch: 2 })
  const rd = take(a)
  t.deepEqual(
    rd.outputsToRelease.map((o) => o.output),
    [1],
  )
  t.like(
    rd.events.find((e) => e.type === 'outputs-discarded'),
    { count: 1, fromSeq: seq + 1 },
  )
})
