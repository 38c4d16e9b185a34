import test from 'ava'
import { type CandidateStatus, type Manifest, place } from '../../src/policy/index.ts'
import { idsFrom, keyFor, signedBy } from './helpers.ts'

const ownerKey = await keyFor(1)
const ids = await idsFrom(40, 10)
const id = (n: number) => ids[n] as string

async function manifest(replicas: number, dataPolicy: object = {}): Promise<Manifest> {
  return (await signedBy(ownerKey, { replicas, dataPolicy })).manifest
}

function candidate(n: number, facts: Partial<CandidateStatus> = {}): CandidateStatus {
  return {
    peerId: id(n),
    site: `lab-${n}`,
    org: 'physics',
    labels: {},
    idle: true,
    cpuFree: 4,
    memFreeMiB: 8192,
    hostedWorkloads: 0,
    rttMs: 2,
    localHour: 12,
    hostPolicy: {},
    ...facts,
  }
}

function consideredOf(placement: ReturnType<typeof place>, n: number) {
  const entry = placement.considered.find((c) => c.peerId === id(n))
  if (entry == null) throw new Error(`candidate ${n} was not considered`)
  return entry
}

test('a policy with exactly one answer places there, and says why every other peer was left out', async (t) => {
  const placement = place({
    manifest: await manifest(2, { allow: { orgs: ['physics'] }, minSites: 2 }),
    candidates: [
      candidate(0, { site: 'lab-a' }),
      candidate(1, { org: 'chemistry', site: 'lab-c' }),
      candidate(2, { site: 'lab-b', idle: false, hostPolicy: { schedule: { idleOnly: true } } }),
      candidate(3, { site: 'lab-b', rttMs: 5 }),
      candidate(4, { site: 'lab-d', memFreeMiB: 32 }),
    ],
  })
  t.true(placement.satisfied)
  t.false(placement.partial)
  t.is(placement.shortfall, undefined)
  t.deepEqual(
    placement.chosen.map((r) => [r.peerId, r.role, r.site]),
    [
      [id(0), 'primary', 'lab-a'],
      [id(3), 'shadow', 'lab-b'],
    ],
  )
  t.regex(consideredOf(placement, 0).reasons[0] ?? '', /^chosen as primary, rank 1 of 2: idle/)
  t.false(consideredOf(placement, 1).chosen)
  t.regex(
    consideredOf(placement, 1).reasons[0] ?? '',
    /allows only org "physics"; peer .* is in org "chemistry"/,
  )
  t.regex(consideredOf(placement, 2).reasons[0] ?? '', /only while its owner is idle/)
  t.regex(consideredOf(placement, 4).reasons[0] ?? '', /needs 64 MiB of memory; 32 MiB free/)
})

test('when no peer may hold the data, nothing is placed and the blocking rule is named', async (t) => {
  const placement = place({
    manifest: await manifest(2, { allow: { orgs: ['physics'] } }),
    candidates: [
      candidate(0, { org: 'chemistry' }),
      candidate(1, { org: 'chemistry' }),
      candidate(2, { org: 'maths' }),
    ],
  })
  t.false(placement.satisfied)
  t.false(placement.partial)
  t.deepEqual(placement.chosen, [])
  t.true(placement.considered.every((c) => !c.chosen))
  t.regex(
    placement.shortfall ?? '',
    /^workload kv needs 2 replicas in at least 1 distinct site: none can be placed: 0 of 3 candidates may hold it; blocked by data:allow-orgs on 3 peers \(e\.g\. .*allows only org "physics"/,
  )
})

test('too few sites for minSites fails by that rule; a partial placement only when asked, and flagged', async (t) => {
  const request = {
    manifest: await manifest(2, { minSites: 2 }),
    candidates: [candidate(0, { site: 'lab-a' }), candidate(1, { site: 'lab-a' })],
  }
  const strict = place(request)
  t.false(strict.satisfied)
  t.deepEqual(strict.chosen, [])
  t.regex(
    strict.shortfall ?? '',
    /requires at least 2 distinct sites \(minSites\), and the replicas can span only 1 site \("lab-a"\)/,
  )
  t.regex(
    consideredOf(strict, 0).reasons[0] ?? '',
    /would be chosen, rank 1 of 2: .*but the placement falls short/,
  )

  const partial = place({ ...request, allowPartial: true })
  t.false(partial.satisfied)
  t.true(partial.partial)
  t.is(partial.chosen.length, 2)
  t.is(partial.shortfall, strict.shortfall)
})

test('among several answers, idle, roomy and close peers come first', async (t) => {
  const placement = place({
    manifest: await manifest(3),
    candidates: [
      candidate(0, { rttMs: 40 }), // idle, roomy, far
      candidate(1, { rttMs: 2 }), // idle, roomy, close
      candidate(2, { rttMs: 1, idle: false }), // owner at the keyboard
      candidate(3, { rttMs: 1, cpuFree: 0.2, memFreeMiB: 100 }), // idle but cramped
      candidate(4, { rttMs: 5, memFreeMiB: 200_000 }), // idle, roomier still, a bit further
    ],
  })
  t.true(placement.satisfied)
  t.deepEqual(
    placement.chosen.map((r) => r.peerId),
    [id(1), id(4), id(0)],
  )
  t.deepEqual(
    [1, 4, 0, 3, 2].map((n) => consideredOf(placement, n).rank),
    [1, 2, 3, 4, 5],
  )
  t.regex(
    consideredOf(placement, 2).reasons[0] ?? '',
    /^eligible, rank 5 of 5: owner active.*not needed: enough better-ranked peers/,
  )
})

test('replicas go to distinct sites before two share one', async (t) => {
  const spread = place({
    manifest: await manifest(2),
    candidates: [
      candidate(0, { site: 'lab-a', rttMs: 1 }),
      candidate(1, { site: 'lab-a', rttMs: 2 }),
      candidate(2, { site: 'lab-b', rttMs: 30, idle: false }),
    ],
  })
  t.deepEqual(
    spread.chosen.map((r) => r.peerId),
    [id(0), id(2)],
  )
  t.regex(
    consideredOf(spread, 1).reasons[0] ?? '',
    /not needed: site "lab-a" already has a better-ranked replica/,
  )

  const doubled = place({
    manifest: await manifest(3, { minSites: 2 }),
    candidates: [
      candidate(0, { site: 'lab-a' }),
      candidate(1, { site: 'lab-a' }),
      candidate(2, { site: 'lab-b' }),
    ],
  })
  t.true(doubled.satisfied)
  t.is(new Set(doubled.chosen.map((r) => r.site)).size, 2)
})

test("a host's own rules count: unknown ones exclude it, its refusal is honoured, a bad policy is reported", async (t) => {
  const placement = place({
    manifest: await manifest(1),
    candidates: [
      candidate(0, { hostPolicy: undefined }),
      candidate(1, { hostPolicy: undefined, hostAnswer: { decision: 'deny', reasons: ['busy rendering'] } }),
      candidate(2, { hostPolicy: { cedar: 'forbid(principal, action, resource' } }),
      candidate(3, { hostPolicy: { allow: { orgs: ['maths'] } } }),
      candidate(4, { hostPolicy: undefined, hostAnswer: { decision: 'allow', reasons: [] }, rttMs: 50 }),
    ],
  })
  t.deepEqual(
    placement.chosen.map((r) => r.peerId),
    [id(4)],
  )
  t.regex(consideredOf(placement, 0).reasons[0] ?? '', /advertised neither its host policy nor an answer/)
  t.regex(consideredOf(placement, 1).reasons[0] ?? '', /the host refused: busy rendering/)
  t.regex(
    consideredOf(placement, 2).reasons[0] ?? '',
    /advertised host policy does not load: admin Cedar policy, line 1/,
  )
  t.regex(
    consideredOf(placement, 3).reasons[0] ?? '',
    /admits only workloads of org "maths"; .* is in no known org/,
  )
})

test('replacing one replica keeps the others, their sites, and never picks a current member', async (t) => {
  const placement = place({
    manifest: await manifest(3, { minSites: 3 }),
    keep: [
      { peerId: id(0), site: 'lab-a' },
      { peerId: id(1), site: 'lab-b' },
    ],
    candidates: [
      candidate(0, { site: 'lab-a' }),
      candidate(2, { site: 'lab-a', rttMs: 1 }),
      candidate(3, { site: 'lab-c', rttMs: 20 }),
    ],
  })
  t.true(placement.satisfied)
  t.deepEqual(placement.chosen, [{ peerId: id(3), site: 'lab-c', role: 'shadow' }])
  t.regex(consideredOf(placement, 0).reasons[0] ?? '', /already holds a replica/)
})

test('a partial placement still never uses a forbidden peer', async (t) => {
  const placement = place({
    manifest: await manifest(3, { deny: { peers: [id(1), id(2)] } }),
    candidates: [candidate(0), candidate(1), candidate(2)],
    allowPartial: true,
  })
  t.false(placement.satisfied)
  t.true(placement.partial)
  t.deepEqual(
    placement.chosen.map((r) => r.peerId),
    [id(0)],
  )
  t.regex(
    placement.shortfall ?? '',
    /only 1 can be placed: 1 of 3 candidates may hold it; blocked by data:deny-peers on 2 peers/,
  )
})
