import test from 'ava'
import type { AgentStatus, ControlEvent, PeerInfo, WorkloadSummary } from '../../src/tui/api.ts'
import { initialState, reduce, type TuiState } from '../../src/tui/index.ts'

const status: AgentStatus = {
  peerId: 'self',
  site: 'lab-a',
  org: undefined,
  version: '0.1.0',
  startedAt: 0,
  uptimeMs: 1_000,
  peers: 1,
  workloads: 1,
}

const peer = (peerId: string, rttMs: number | null = 1): PeerInfo => ({
  peerId,
  self: false,
  site: 'lab-b',
  org: undefined,
  labels: {},
  state: 'idle',
  capacity: { cpus: 4, memoryMiB: 8_192, freeMemoryMiB: 4_096, diskMiB: 10_000 },
  rttMs,
  version: '0.1.0',
  hosting: [],
})

const workload = (name: string, primary = 'a'): WorkloadSummary => ({
  name,
  owner: 'alice',
  state: 'running',
  replicasWanted: 1,
  replicas: [],
  primary,
  epoch: 1,
  committedSeq: 0,
  startedAt: 0,
  uptimeMs: 0,
  lastFailover: undefined,
})

const event = (n: number): ControlEvent => ({
  type: 'election',
  workload: 'kv',
  candidate: 'b',
  epoch: n,
  outcome: 'won',
  id: `boot-${n}`,
  time: n,
})

const polled = (state: TuiState, at: number, peers: PeerInfo[], workloads: WorkloadSummary[]) =>
  reduce(state, { type: 'poll-ok', at, status, peers, workloads })

test('a poll connects and keeps rows that did not change as the same objects', (t) => {
  const s1 = polled(initialState(0), 10, [peer('p1'), peer('p2')], [workload('kv')])
  t.deepEqual(s1.connection, { state: 'connected', since: 10 })
  const s2 = polled(s1, 20, [peer('p1'), peer('p2')], [workload('kv')])
  t.is(s2.peers, s1.peers, 'an unchanged list is the same array')
  t.is(s2.workloads, s1.workloads)
  t.is(s2.status, s1.status)
  t.is(s2.lastPollAt, 20)
  t.deepEqual(s2.connection, { state: 'connected', since: 10 }, 'connected since the first answer')
  const s3 = polled(s2, 30, [peer('p1'), peer('p2', 7)], [workload('kv', 'b')])
  t.not(s3.peers, s2.peers)
  t.is(s3.peers[0], s2.peers[0], 'the unchanged row is reused')
  t.not(s3.peers[1], s2.peers[1])
  t.is(s3.workloads[0]!.primary, 'b')
})

test('failed polls mark the agent unreachable since the first failure, count them, and a poll recovers', (t) => {
  let s = polled(initialState(0), 10, [], [])
  s = reduce(s, { type: 'poll-failed', at: 20, error: 'gone', answered: false, retryInMs: 250 })
  t.like(s.connection, { state: 'unreachable', since: 20, failures: 1, retryAt: 270, error: 'gone' })
  s = reduce(s, { type: 'poll-failed', at: 300, error: 'still gone', answered: false, retryInMs: 500 })
  t.like(s.connection, { state: 'unreachable', since: 20, failures: 2, retryAt: 800, error: 'still gone' })
  t.is(s.lastPollAt, 10, 'the data keeps its time')
  s = polled(s, 900, [], [])
  t.deepEqual(s.connection, { state: 'connected', since: 900 })
})

test('the feed keeps each event once, in order, and drops the oldest past its cap', (t) => {
  let s = initialState(0, 3)
  for (const n of [1, 2, 2, 3, 1]) s = reduce(s, { type: 'event', event: event(n) })
  t.deepEqual(
    s.events.map((e) => e.id),
    ['boot-1', 'boot-2', 'boot-3'],
  )
  const before = s
  t.is(reduce(s, { type: 'event', event: event(3) }), before, 'a repeat changes nothing')
  s = reduce(s, { type: 'event', event: event(4) })
  t.deepEqual(
    s.events.map((e) => e.id),
    ['boot-2', 'boot-3', 'boot-4'],
  )
})

test('a detail or explanation that arrives for a workload no longer open is dropped', (t) => {
  let s = reduce(initialState(0), { type: 'detail-open', name: 'kv' })
  const detail = { ...workload('kv'), image: 'h', args: [], dataPolicy: [], recentEvents: [] }
  s = reduce(s, { type: 'detail-close' })
  t.is(reduce(s, { type: 'detail-ok', detail }).detail, undefined)
  s = reduce(s, { type: 'detail-open', name: 'web' })
  t.is(reduce(s, { type: 'detail-ok', detail }).detail?.data, undefined)
  s = reduce(s, { type: 'detail-failed', name: 'web', error: 'no workload named web' })
  t.is(s.detail?.error, 'no workload named web')
  s = reduce(s, { type: 'explain-open', name: 'web' })
  const explanation = { name: 'kv', decidedAt: 0, summary: '', candidates: [] }
  t.is(reduce(s, { type: 'explain-ok', explanation }).explain?.data, undefined)
})

test('the event stream state is tracked apart from the polls', (t) => {
  let s = polled(initialState(0), 1, [], [])
  s = reduce(s, { type: 'stream-down', error: 'closed' })
  t.deepEqual(s.stream, { state: 'down', error: 'closed' })
  t.is(s.connection.state, 'connected')
  s = reduce(s, { type: 'stream-live' })
  t.deepEqual(s.stream, { state: 'live' })
})
