import test from 'ava'
import { checkHistory, type HistoryEvent } from '../../../src/agent/group/checker.ts'

/** Hand-made histories: the checker must accept a sound one and name each broken property. */

const apply = (
  member: string,
  seq: number,
  epoch: number,
  data: string,
  commitSeq = seq,
  state = `s${seq}`,
) => ({ type: 'apply', time: seq, member, seq, epoch, data, state, commitSeq }) as const

const commit = (member: string, commitSeq: number, time = commitSeq) =>
  ({ type: 'commit', time, member, commitSeq }) as const

function sound(): HistoryEvent[] {
  return [
    {
      type: 'became-primary',
      time: 0,
      member: 'a',
      epoch: 1,
      log: [{ seq: 1, epoch: 1, data: 'start' }],
      checkpointSeq: 0,
    },
    { type: 'proposed', time: 1, member: 'a', id: 1, seq: 2, epoch: 1, data: 'x' },
    commit('a', 2),
    apply('a', 1, 1, 'start'),
    apply('a', 2, 1, 'x'),
    { type: 'released', time: 3, member: 'a', id: 1, seq: 2, epoch: 1 },
    commit('b', 2),
    apply('b', 1, 1, 'start'),
    apply('b', 2, 1, 'x'),
    {
      type: 'became-primary',
      time: 10,
      member: 'b',
      epoch: 2,
      log: [
        { seq: 1, epoch: 1, data: 'start' },
        { seq: 2, epoch: 1, data: 'x' },
        { seq: 3, epoch: 2, data: 'start' },
      ],
      checkpointSeq: 0,
    },
  ]
}

test('a sound history has no violations', (t) => {
  t.deepEqual(checkHistory(sound()), [])
})

test('two primaries in one epoch are reported', (t) => {
  const h = sound()
  const b = h.at(-1)!
  h.push({ ...b, time: 11, member: 'c' } as HistoryEvent)
  t.deepEqual(
    checkHistory(h).map((v) => v.property),
    ['one-primary-per-epoch'],
  )
})

test('members applying different entries at one seq are reported', (t) => {
  const h = sound()
  h.push(commit('c', 2), apply('c', 1, 1, 'start'), apply('c', 2, 2, 'y', 2, 's2'))
  t.deepEqual(
    checkHistory(h).map((v) => v.property),
    ['log-agreement'],
  )
})

test('a gap in what a member applies is reported', (t) => {
  const h = sound()
  h.push(commit('c', 2), apply('c', 2, 1, 'x'))
  t.true(
    checkHistory(h).some((v) => v.property === 'log-agreement' && v.message.includes('where 1 was next')),
  )
})

test('a released output missing from a later primary is reported', (t) => {
  const h = sound()
  h.push({
    type: 'became-primary',
    time: 20,
    member: 'c',
    epoch: 3,
    log: [
      { seq: 1, epoch: 1, data: 'start' },
      { seq: 2, epoch: 2, data: 'other' },
    ],
    checkpointSeq: 0,
  })
  const [v, ...rest] = checkHistory(h)
  t.is(v?.property, 'released-output-durable')
  t.regex(v!.message, /missing from the log of c/)
  t.deepEqual(rest, [])
})

test('an output released before its entry was committed is reported', (t) => {
  const h = sound().filter((e) => !(e.type === 'apply' && e.member === 'a' && e.seq === 2))
  t.true(
    checkHistory(h).some(
      (v) => v.property === 'released-output-durable' && v.message.includes('before committing'),
    ),
  )
})

test('a commit seq going backwards is reported, across a restart too', (t) => {
  const h = sound()
  h.push(
    { type: 'crash', time: 12, member: 'a' },
    { type: 'restart', time: 13, member: 'a' },
    commit('a', 1, 14),
  )
  t.deepEqual(
    checkHistory(h).map((v) => v.property),
    ['commit-monotonic'],
  )
})

test('applying past the commit seq is reported', (t) => {
  const h = sound()
  h.push(commit('c', 1), apply('c', 1, 1, 'start', 1), apply('c', 2, 1, 'x', 1))
  t.deepEqual(
    checkHistory(h).map((v) => v.property),
    ['applied-within-commit'],
  )
})

test('members reaching different states after the same entries are reported', (t) => {
  const h = sound()
  h.push(commit('c', 2), apply('c', 1, 1, 'start'), apply('c', 2, 1, 'x', 2, 'different'))
  t.deepEqual(
    checkHistory(h).map((v) => v.property),
    ['state-agreement'],
  )
})

test('a machine restored from a checkpoint continues after it', (t) => {
  const h = sound()
  h.push(
    { type: 'restore', time: 15, member: 'c', seq: 2, state: 's2' },
    commit('c', 3),
    apply('c', 3, 2, 'start'),
  )
  t.deepEqual(checkHistory(h), [])
  h.push({ type: 'restore', time: 16, member: 'd', seq: 2, state: 'bad' })
  t.deepEqual(
    checkHistory(h).map((v) => v.property),
    ['state-agreement'],
  )
})

test('a removed member that campaigns or becomes primary is reported, until a configuration has it again', (t) => {
  const event = (time: number, member: string, e: Extract<HistoryEvent, { type: 'event' }>['event']) =>
    ({ type: 'event', time, member, event: e }) as const
  const h = sound()
  h.push(
    event(20, 'c', { type: 'removed', seq: 3 }),
    event(21, 'c', { type: 'election-started', epoch: 3, preVote: true, transfer: false }),
    { type: 'became-primary', time: 22, member: 'c', epoch: 3, log: [], checkpointSeq: 2 },
  )
  t.deepEqual(
    checkHistory(h).map((v) => v.property),
    ['removed-member-quiet', 'removed-member-quiet'],
  )
  const readded = sound()
  readded.push(
    event(20, 'c', { type: 'removed', seq: 3 }),
    event(21, 'c', {
      type: 'config-changed',
      members: ['a', 'b'],
      learners: ['c'],
      seq: 9,
      committed: false,
    }),
    event(22, 'c', { type: 'election-started', epoch: 3, preVote: true, transfer: false }),
  )
  t.deepEqual(checkHistory(readded), [])
})
