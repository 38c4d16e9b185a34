/**
 * The pieces of a fault run that need no lab (no root): the primary timeline built from agent events
 * and process faults, the nemesis clock that stands still during actions, and the store summaries read
 * back from a real level store.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ControlEvent } from '../../src/agent/control/index.ts'
import type { Entry } from '../../src/agent/group/types.ts'
import { AgentStore } from '../../src/agent/store/index.ts'
import type { RecordedEvent } from './agent-events.ts'
import { check, type ExecutedStep } from './lab/index.ts'
import { PausingClock } from './pausing-clock.ts'
import { entryDigest, epochStarts, readGroup, summarizeGroup } from './stores.ts'
import { divergenceReports, epochsServed, failovers, median, primaryTimeline } from './timeline.ts'

const ev = (at: number, site: string, body: Record<string, unknown>): RecordedEvent => ({
  at,
  site,
  event: { workload: 'kv', id: `b-${at}`, time: at, ...body } as unknown as ControlEvent,
})
const promotion = (at: number, site: string, epoch: number, tookMs = 100) =>
  ev(at, site, { type: 'promotion', peerId: site, epoch, tookMs, detectionMs: 50 })
const stepDown = (at: number, site: string, epoch: number) =>
  ev(at, site, { type: 'step-down', peerId: site, epoch, reason: 'lost-quorum' })

test('the primary serves from its promotion until it steps down or is killed; a stale promotion changes nothing', (t) => {
  const events = [
    promotion(10, 's0', 1),
    stepDown(100, 's0', 1),
    promotion(150, 's1', 2),
    promotion(160, 's0', 1), // delivered late by a stopped agent
    stepDown(170, 's0', 1), // not the primary: no change
    promotion(400, 's2', 3),
  ]
  const timeline = primaryTimeline(events, [{ at: 300, site: 's1', kind: 'kill' }], 'kv')
  t.deepEqual(timeline, [
    { at: 10, site: 's0', epoch: 1 },
    { at: 100, site: null, epoch: 1 },
    { at: 150, site: 's1', epoch: 2 },
    { at: 300, site: null, epoch: 2 },
    { at: 400, site: 's2', epoch: 3 },
  ])
  const served = epochsServed(events, 'kv')
  t.deepEqual(served.get('s0'), [{ epoch: 1, firstWriteAt: 10 }])
  t.deepEqual(
    failovers(events, 'kv').map((f) => [f.site, f.epoch]),
    [
      ['s1', 2],
      ['s0', 1],
      ['s2', 3],
    ],
  )
  t.is(median([3, 1, 2]), 2)
  t.is(median([4, 1, 2, 3]), 2.5)
  t.is(median([]), undefined)
})

test('a digest mismatch is reported once per replica and entry', (t) => {
  const mismatch = (at: number, site: string, seq: number) =>
    ev(at, site, { type: 'divergence', peerId: site, seq, expected: 'aa', got: 'bb' })
  const reports = divergenceReports(
    [mismatch(1, 's1', 100), mismatch(2, 's1', 100), mismatch(3, 's2', 100)],
    'kv',
  )
  t.deepEqual(
    reports.map((r) => [r.site, r.seq]),
    [
      ['s1', 100],
      ['s2', 100],
    ],
  )
})

test('a timeline with a gap counts as time without a primary for the fault in force', (t) => {
  const report = check({
    history: [],
    stores: [],
    timeline: primaryTimeline(
      [promotion(0, 's0', 1), stepDown(1000, 's0', 1), promotion(1500, 's1', 2)],
      [],
      'kv',
    ),
    faults: [{ id: 1, kind: 'isolate', description: 'isolate s0', at: 900, endedAt: 3000, sites: ['s0'] }],
    endAt: 3000,
  })
  t.is(report.timeWithoutPrimaryPerFault[0]!.withoutPrimaryMs, 600)
})

test('the nemesis clock stands still while an action runs, and steps map back to real time', async (t) => {
  let real = 0
  const clock = new PausingClock(() => real)
  real = 100
  t.is(clock.now(), 100)
  const slow = clock.action(async () => {
    real += 5000 // a restart that took 5 s
  })
  const startedAt = clock.now()
  await slow()
  const endedAt = clock.now()
  t.is(endedAt, startedAt, 'no schedule time passed during the action')
  const step = { step: { id: 1, at: 0, kind: 'restart' }, resolved: {}, startedAt, endedAt } as ExecutedStep
  const mapped = clock.toReal(step)
  t.is(mapped.startedAt, 100)
  t.is(mapped.endedAt, 5100)
  real = 6100
  t.is(clock.now(), 1100)
})

test('stores are read back and summarized: committed digests, entries by epoch, epoch starts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-fault-store-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const entry = (seq: number, epoch: number, kind: Entry['kind'] = 'normal'): Entry => ({
    seq,
    epoch,
    kind,
    data: new Uint8Array([seq, epoch]),
  })
  const entries = [entry(1, 1, 'epoch-start'), entry(2, 1), entry(3, 2, 'epoch-start'), entry(4, 2)]
  const store = await AgentStore.open({ path: dir, sync: false })
  const group = await store.openGroup('kv')
  await group.persist({
    entriesToPersist: entries,
    hardState: { epoch: 2, votedFor: undefined, commitSeq: 3 },
  })
  await store.close()

  const read = await readGroup(dir, 'kv')
  t.truthy(read)
  t.is(read!.entries.length, 4)
  t.deepEqual(epochStarts(read!), [
    { epoch: 1, seq: 1 },
    { epoch: 2, seq: 3 },
  ])
  const summary = summarizeGroup('s0', read!, [])
  t.is(summary.storedSeq, 4)
  t.is(summary.commitSeq, 3)
  t.deepEqual([...(summary.digestsAtSeq as Map<number, string>).keys()], [1, 2, 3], 'only committed entries')
  t.is((summary.entryDigests as Map<string, string>).get('4@2'), entryDigest(entries[3]!))
  t.not(entryDigest(entry(4, 2)), entryDigest(entry(4, 3)), 'the epoch is part of the digest')
  t.is(await readGroup(dir, 'other'), undefined)
})
