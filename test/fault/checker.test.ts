/** The fault-run checker on hand-made histories: each violation must be reported, and only violations. */
import test from 'ava'
import {
  type CheckInput,
  type ClientOp,
  check,
  exitCode,
  formatTable,
  type StoreSummary,
} from './lab/checker.ts'

const w = (
  key: string,
  value: string | number,
  start: number,
  end: number,
  result: ClientOp['result'] = 'ok',
) => ({ op: 'write', key, value, start, end, result }) as const
const r = (key: string, seen: string | number | null, start: number, end: number) =>
  ({ op: 'read', key, seen, start, end, result: 'ok' }) as const

const store = (site: string, extra: Partial<StoreSummary> = {}): StoreSummary => ({
  site,
  epochsServedAsPrimary: [],
  digestsAtSeq: new Map(),
  storedSeq: 10,
  commitSeq: 10,
  ...extra,
})

const run = (input: Partial<CheckInput>) => check({ history: [], stores: [], ...input })

test('a clean register history passes', (t) => {
  const report = run({
    history: [
      w('a', 'x1', 0, 10),
      w('a', 'x2', 20, 30),
      r('a', 'x2', 35, 40),
      w('b', 'y1', 0, 5),
      r('b', 'y1', 50, 55),
    ],
    stores: [store('s0'), store('s1')],
  })
  t.is(report.violations, 0)
  t.is(exitCode(report), 0)
  t.deepEqual(report.ops.writes, { ok: 3, fail: 0, unknown: 0 })
  t.regex(formatTable(report), /PASS$/)
})

test('an acknowledged write that the final read does not show is lost', (t) => {
  const report = run({ history: [w('a', 'x1', 0, 10), w('a', 'x2', 20, 30), r('a', 'x1', 40, 45)] })
  t.is(report.lostAcknowledgedWrites.length, 1)
  t.is(report.lostAcknowledgedWrites[0]!.write?.value, 'x2')
  t.is(exitCode(report), 1)
  t.regex(formatTable(report), /lost: a := x2/)
  t.regex(formatTable(report), /FAIL: 1 violation/)
})

test('an acknowledged write is lost when the final read finds the key empty', (t) => {
  const report = run({ history: [w('a', 'x1', 0, 10), r('a', null, 40, 45)] })
  t.is(report.lostAcknowledgedWrites.length, 1)
})

test('a concurrent write may win; unknown writes may or may not have happened; failed ones count for nothing', (t) => {
  const report = run({
    history: [
      w('a', 'x1', 0, 30), // concurrent with x2: either order is fine
      w('a', 'x2', 10, 20),
      r('a', 'x1', 40, 45),
      w('b', 'y1', 0, 10),
      w('b', 'y2', 20, 30, 'unknown'),
      r('b', 'y2', 40, 45), // the unknown write happened
      w('c', 'z1', 0, 10),
      w('c', 'z2', 20, 30, 'unknown'),
      r('c', 'z1', 40, 45), // it did not
    ],
  })
  t.is(report.violations, 0, formatTable(report))
})

test('a read of a value whose write failed, or that nobody wrote, is a phantom', (t) => {
  const report = run({
    history: [w('a', 'x1', 0, 10), w('a', 'x2', 20, 30, 'fail'), r('a', 'x2', 40, 45), r('b', 'ghost', 0, 5)],
  })
  t.deepEqual(
    report.phantomReads.map((p) => p.reason),
    ['the write of x2 to a had failed', 'no write of ghost to b'],
  )
  // a := x1 was acknowledged and the final read shows a failed write's value instead: lost too.
  t.is(report.lostAcknowledgedWrites.length, 1)
  t.is(exitCode(report), 1)
})

test('a stale read before the final one is reported but is no violation; a key never read is unchecked', (t) => {
  const report = run({
    history: [
      w('a', 'x1', 0, 10),
      w('a', 'x2', 20, 30),
      r('a', 'x1', 35, 36),
      r('a', 'x2', 40, 45),
      w('b', 'y', 0, 1),
    ],
  })
  t.is(report.staleReads.length, 1)
  t.deepEqual(report.uncheckedKeys, ['b'])
  t.is(report.violations, 0)
})

test('a counter missing acknowledged increments has lost writes; one above every possible total is a phantom', (t) => {
  const history = [w('n', 1, 0, 10), w('n', 2, 0, 10), w('n', 3, 20, 30), w('n', 4, 20, 30, 'unknown')]
  const fine = run({ model: 'counter', history: [...history, r('n', 10, 40, 45)] })
  t.is(fine.violations, 0)
  t.is(run({ model: 'counter', history: [...history, r('n', 6, 40, 45)] }).violations, 0)
  const lost = run({ model: 'counter', history: [...history, r('n', 5, 40, 45)] })
  t.deepEqual(
    lost.lostAcknowledgedWrites.map((l) => [l.key, l.missing]),
    [['n', 1]],
  )
  const phantom = run({ model: 'counter', history: [...history, r('n', 11, 40, 45)] })
  t.is(phantom.phantomReads.length, 1)
  t.regex(formatTable(lost), /lost: n is missing 1 acknowledged/)
})

test('two sites writing as primary in the same epoch is split brain; in different epochs it is not', (t) => {
  const report = run({
    stores: [
      store('s0', {
        epochsServedAsPrimary: [
          { epoch: 1, firstWriteAt: 5 },
          { epoch: 3, firstWriteAt: 50 },
        ],
      }),
      store('s1', {
        epochsServedAsPrimary: [
          { epoch: 2, firstWriteAt: 20 },
          { epoch: 3, firstWriteAt: 60 },
        ],
      }),
      store('s2', { epochsServedAsPrimary: [{ epoch: 1 }] }), // primary of epoch 1 too, but wrote nothing
    ],
  })
  t.deepEqual(report.splitBrainEpochs, [{ epoch: 3, sites: ['s0', 's1'] }])
  t.is(exitCode(report), 1)
  t.regex(formatTable(report), /epoch 3: writes served by s0 and s1/)
})

test('replicas whose digests differ at the same entry diverge; entries only one holds are not compared', (t) => {
  const report = run({
    stores: [
      store('s0', {
        digestsAtSeq: new Map([
          [1, 'aa'],
          [2, 'bb'],
          [3, 'cc'],
        ]),
      }),
      store('s1', { digestsAtSeq: { 1: 'aa', 2: 'bX' } }), // as read from JSON
      store('s2', {
        digestsAtSeq: new Map([
          [2, 'bb'],
          [4, 'dd'],
        ]),
      }),
    ],
  })
  t.deepEqual(report.divergentDigests, [{ seq: 2, digests: { bb: ['s0', 's2'], bX: ['s1'] } }])
  t.is(report.violations, 1)
})

test('time without a serving primary is measured per fault, counting a primary that is down as none', (t) => {
  const report = run({
    timeline: [
      { at: 0, site: 's0' },
      { at: 300, site: 's1' },
      { at: 1400, site: 's2' },
    ],
    faults: [
      { id: 1, kind: 'kill', description: 'kill s0', at: 100, endedAt: 600, sites: ['s0'] },
      { id: 2, kind: 'isolate', description: 'isolate s1', at: 1000, endedAt: 1500, sites: ['s1'] },
      { id: 3, kind: 'clock-jump', description: 'clock-jump s2 +5 ms', at: 1800, sites: [] },
    ],
    endAt: 2000,
  })
  t.deepEqual(
    report.timeWithoutPrimaryPerFault.map((f) => [f.id, f.windowMs, f.withoutPrimaryMs, f.longestGapMs]),
    [
      [1, 900, 200, 200],
      [2, 800, 400, 400],
      [3, 200, 0, 0],
    ],
  )
  t.regex(formatTable(report), /#2 +1\.0 +isolate s1 +800 +400 +400/)
})

test('stored against committed, per replica', (t) => {
  const report = run({
    stores: [store('s0', { storedSeq: 12, commitSeq: 10 }), store('s1', { storedSeq: 7, commitSeq: 7 })],
  })
  t.deepEqual(
    report.storedVsCommitted.map((s) => [s.site, s.uncommitted, s.behind]),
    [
      ['s0', 2, 0],
      ['s1', 0, 3],
    ],
  )
  t.is(report.violations, 0)
})

test('two stores holding different entries for one seq of one epoch is split brain, whoever promoted', (t) => {
  const report = run({
    stores: [
      store('s0', {
        entryDigests: new Map([
          ['5@2', 'aa'],
          ['6@2', 'bb'],
        ]),
      }),
      store('s1', { entryDigests: { '5@2': 'aa', '6@2': 'bX' } }),
      store('s2', {
        entryDigests: new Map([
          ['5@2', 'aa'],
          ['6@3', 'cc'],
        ]),
      }), // another epoch may differ
    ],
  })
  t.deepEqual(report.conflictingEntries, [{ seq: 6, epoch: 2, digests: { bb: ['s0'], bX: ['s1'] } }])
  t.deepEqual(report.splitBrainEpochs, [{ epoch: 2, sites: ['s0', 's1'] }])
  t.is(report.violations, 1)
  t.regex(formatTable(report), /entry 6 of epoch 2 differs: s0=bb vs s1=bX/)
})

test('a digest mismatch a shadow reported is a violation', (t) => {
  const report = run({ divergenceReports: [{ at: 5, site: 's2', seq: 40, expected: 'ab12', got: 'cd34' }] })
  t.is(report.reportedDivergences.length, 1)
  t.is(report.violations, 1)
  t.regex(formatTable(report), /s2 reported a digest mismatch at entry 40: cd34, primary ab12/)
})
