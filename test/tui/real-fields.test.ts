/**
 * What the real agent reports differently from the fake one, and how the TUI shows it: promotions only
 * on the agent where they happen (so the feed notices a new primary in its polls), placeholders for a
 * replica it could not ask, zeros for capacities it does not measure, a failover with no known origin.
 */
import test from 'ava'
import type { ControlEvent, PeerInfo, ReplicaInfo, WorkloadSummary } from '../../src/tui/api.ts'
import { peerColumns, replicaColumns, workloadColumns } from '../../src/tui/components/tables.ts'
import { describeEvent } from '../../src/tui/event-text.ts'
import { initialState, reduce, type TuiState } from '../../src/tui/index.ts'
import { fitColumns, rowLine } from '../../src/tui/table.ts'

const status = {
  peerId: 'self',
  site: 'site-a',
  org: 'lab',
  version: '0.2.0',
  startedAt: 0,
  uptimeMs: 1,
  peers: 2,
  workloads: 1,
}

const replica = (
  peerId: string,
  role: ReplicaInfo['role'],
  epoch: number,
  reachable = true,
): ReplicaInfo => ({
  peerId,
  site: `site-${peerId}`,
  role,
  epoch,
  committedSeq: reachable ? 30 : 0,
  appliedSeq: reachable ? 30 : 0,
  lagEntries: null,
  lagMs: null,
  digest: 'unknown',
  divergedAtSeq: null,
  reachable,
  uptimeMs: reachable ? 5_000 : 0,
  ...(reachable ? { checkpointSeq: 0 } : {}),
})

const kv = (primary: string | undefined, epoch: number): WorkloadSummary => ({
  name: 'kv',
  owner: 'alice',
  state: primary ? 'running' : 'electing',
  replicasWanted: 3,
  replicas: ['a', 'b', 'c'].map((p) => replica(p, p === primary ? 'primary' : 'shadow', epoch)),
  primary,
  epoch,
  committedSeq: 30,
  startedAt: 0,
  uptimeMs: 0,
  lastFailover: undefined,
})

const poll = (state: TuiState, at: number, w: WorkloadSummary) =>
  reduce(state, { type: 'poll-ok', at, status, peers: [], workloads: [w] })

const promotion = (peerId: string, epoch: number, id: string): ControlEvent => ({
  type: 'promotion',
  workload: 'kv',
  peerId,
  epoch,
  tookMs: 900,
  detectionMs: 850,
  electionMs: 40,
  promotionMs: 10,
  id,
  time: 5,
})

const feed = (s: TuiState) => s.events.map((e) => `${describeEvent(e).kind}: ${describeEvent(e).text}`)

test('a new primary seen in the polls shows in the feed once, not on the first poll, not backwards', (t) => {
  let s = poll(initialState(0), 1, kv('a', 1))
  t.deepEqual(s.events, [], 'the first poll is not news')
  s = poll(s, 2, kv(undefined, 1))
  s = poll(s, 3, kv('b', 2))
  t.deepEqual(feed(s), ['failover: kv: b is primary at epoch 2 (was a)'])
  t.is(describeEvent(s.events[0]!).tone, 'good')
  s = poll(s, 4, kv(undefined, 2))
  s = poll(s, 5, kv('b', 2))
  // A deposed primary that still believes it leads an older epoch is not a change.
  s = poll(s, 6, kv('a', 1))
  t.is(s.events.length, 1)
  s = poll(s, 7, kv('b', 3))
  t.is(s.events.length, 1, 'the same primary in a newer epoch is no failover')
})

test("the agent's own promotion replaces the change a poll noticed, and prevents it when it comes first", (t) => {
  let s = poll(initialState(0), 1, kv('a', 1))
  s = poll(s, 2, kv('b', 2))
  s = reduce(s, { type: 'event', event: promotion('b', 2, 'boot-1') })
  t.deepEqual(feed(s), [
    'promotion: kv: b is primary at epoch 2, took 900ms (detect 850ms, elect 40ms, promote 10ms)',
  ])
  s = reduce(s, { type: 'event', event: promotion('c', 3, 'boot-2') })
  s = poll(s, 3, kv('c', 3))
  t.is(s.events.length, 2, 'no second line for the promotion the agent reported')
})

test("an unreachable replica's placeholders are not shown as facts", (t) => {
  const columns = fitColumns(replicaColumns(), 78)
  const down = rowLine(columns, replica('x', 'unknown', 0, false))
  t.regex(down, /^x\s+site-x\s+unreachable\s+-\s+-\s/)
  t.regex(rowLine(columns, replica('y', 'pre-candidate', 4)), /^y\s+site-y\s+pre-candidate\s+4\s+30\s/)
  t.true(down.length <= 78)
  const wide = fitColumns(replicaColumns(), 160)
  t.truthy(wide.find((c) => c.title === 'CKPT'))
  t.regex(rowLine(wide, replica('z', 'shadow', 2)), /\s30\s+-$/, 'no checkpoint yet: -')
})

test("the workload row says where its primary runs; a peer's unmeasured capacity is unknown, not zero", (t) => {
  const row = rowLine(fitColumns(workloadColumns(0), 78), kv('b', 2))
  t.regex(row, /^kv\s+running\s+3\/3\s+b\s+site-b\s+2\s+30\s/)
  const self: PeerInfo = {
    peerId: 'self',
    self: true,
    site: 'site-a',
    org: 'lab',
    labels: {},
    state: 'idle',
    capacity: { cpus: 0, memoryMiB: 0, freeMemoryMiB: 0, diskMiB: 0 },
    rttMs: 0,
    version: '0.2.0',
    hosting: ['kv'],
  }
  const line = rowLine(fitColumns(peerColumns(), 160), self)
  t.regex(line, /idle\s+-\s+-\s+-\s+0\.2\.0\s+1\s+-/)
})
