import test from 'ava'
import type { HistoryEvent } from '../../../src/agent/group/checker.ts'
import { fingerprint, Simulation } from '../../../src/agent/group/simulation.ts'
import type { GroupEvent, MemberId } from '../../../src/agent/group/types.ts'

/** Scripted scenarios on the deterministic in-memory cluster. Every one ends with the history checker. */

function electedSim(options: ConstructorParameters<typeof Simulation>[0]): {
  sim: Simulation
  primary: MemberId
} {
  const sim = new Simulation(options)
  if (!sim.runUntil((s) => s.primary() !== undefined, 100)) throw new Error('no primary after 100 ticks')
  sim.run(5)
  return { sim, primary: sim.primary()! }
}

function eventsOf(sim: Simulation, member: MemberId, since = 0): GroupEvent[] {
  return sim.history
    .filter((h): h is Extract<HistoryEvent, { type: 'event' }> => h.type === 'event' && h.member === member)
    .filter((h) => h.time >= since)
    .map((h) => h.event)
}

const released = (sim: Simulation) =>
  sim.history.filter((h): h is Extract<HistoryEvent, { type: 'released' }> => h.type === 'released')

const appliedOps = (sim: Simulation, member: MemberId) =>
  new Set(
    sim.history
      .filter((h) => h.type === 'apply' && h.member === member)
      .map((h) => (h as { data: string }).data),
  )

const opData = (id: number) => fingerprint(new TextEncoder().encode(`op-${id}`))

test('a three-member group elects exactly one primary, and every member follows it', (t) => {
  const { sim, primary } = electedSim({ seed: 1 })
  sim.run(50)
  t.deepEqual(sim.primaries(), [primary])
  const epoch = sim.member(primary)!.status().epoch
  for (const id of sim.members) t.like(sim.member(id)!.status(), { epoch, leader: primary })
  t.deepEqual(sim.check(), [])
})

test('an entry commits once a majority stores it, and not while only a minority does', (t) => {
  const { sim, primary } = electedSim({ seed: 2, members: 5, config: { electionTicks: 20 } })
  const shadows = sim.members.filter((m) => m !== primary)

  sim.partition([primary, shadows[0]!, shadows[1]!], [shadows[2]!, shadows[3]!])
  const majority = sim.propose(primary)!
  t.true(sim.runUntil((s) => s.member(primary)!.status().commitSeq >= majority.seq, 5))
  t.true(released(sim).some((r) => r.id === majority.id))

  sim.heal()
  sim.run(2)
  sim.partition([primary, shadows[0]!], [shadows[1]!, shadows[2]!, shadows[3]!])
  const minority = sim.propose(primary)!
  sim.run(8)
  t.true(sim.member(primary)!.status().commitSeq < minority.seq)
  t.false(released(sim).some((r) => r.id === minority.id))
  t.true(sim.member(shadows[0]!)!.status().lastSeq >= minority.seq, 'the one reachable shadow stores it')

  sim.heal()
  t.true(sim.runUntil((s) => released(s).some((r) => r.id === minority.id), 10))
  t.deepEqual(sim.check(), [])
})

test('a primary cut off from its shadows steps down, releases nothing, and later drops its uncommitted tail', (t) => {
  const { sim, primary: old } = electedSim({ seed: 3 })
  const before = [sim.propose(old)!, sim.propose(old)!]
  t.true(sim.runUntil((s) => before.every((p) => released(s).some((r) => r.id === p.id)), 10))
  const oldEpoch = sim.member(old)!.status().epoch

  sim.isolate(old)
  const cut = sim.now
  const orphans = [sim.propose(old)!, sim.propose(old)!, sim.propose(old)!]
  t.true(sim.runUntil((s) => s.member(old)!.status().role === 'shadow', 2 * 10 + 1))
  t.like(
    eventsOf(sim, old, cut).find((e) => e.type === 'stepped-down'),
    { reason: 'lost-quorum' },
  )
  t.like(
    eventsOf(sim, old, cut).find((e) => e.type === 'outputs-discarded'),
    { count: 3 },
  )

  t.true(sim.runUntil((s) => s.primary() !== undefined, 50))
  const next = sim.primary()!
  t.not(next, old)
  t.true(sim.member(next)!.status().epoch > oldEpoch)
  const after = sim.propose(next)!
  t.true(sim.runUntil((s) => released(s).some((r) => r.id === after.id), 10))

  sim.heal()
  t.true(
    sim.runUntil((s) => {
      const st = s.member(old)!.status()
      return st.leader === next && st.appliedSeq >= after.seq
    }, 30),
  )
  t.false(released(sim).some((r) => r.member === old && r.time > cut))
  t.true(eventsOf(sim, old, cut).some((e) => e.type === 'log-truncated'))
  const applied = appliedOps(sim, old)
  for (const p of orphans) t.false(applied.has(opData(p.id)), `orphan ${p.id} was never applied`)
  t.true(applied.has(opData(after.id)))
  t.deepEqual(sim.check(), [])
})

test('pre-vote keeps a returning isolated shadow from bumping the epoch', (t) => {
  const { sim, primary } = electedSim({ seed: 4 })
  const epoch = sim.member(primary)!.status().epoch
  const loner = sim.members.find((m) => m !== primary)!

  const cut = sim.now
  sim.isolate(loner)
  sim.run(100)
  t.true(eventsOf(sim, loner).filter((e) => e.type === 'election-started' && e.preVote).length > 3)
  t.is(sim.member(loner)!.status().epoch, epoch, 'failed pre-votes do not raise the epoch')

  sim.heal()
  sim.run(30)
  t.is(sim.primary(), primary)
  for (const id of sim.members) t.like(sim.member(id)!.status(), { epoch, leader: primary })
  for (const id of sim.members) {
    t.false(
      eventsOf(sim, id, cut).some((e) => e.type === 'election-started' && !e.preVote),
      `${id} held no election`,
    )
  }
  t.deepEqual(sim.check(), [])
})

test('a crashed shadow restarts from its storage and catches up', (t) => {
  const { sim, primary } = electedSim({ seed: 5 })
  const shadow = sim.members.find((m) => m !== primary)!
  for (let i = 0; i < 5; i++) sim.propose(primary)
  sim.run(3)
  sim.crash(shadow)
  const missed = Array.from({ length: 5 }, () => sim.propose(primary)!)
  sim.run(5)
  t.true(
    missed.every((p) => released(sim).some((r) => r.id === p.id)),
    'two of three commit without it',
  )
  sim.restart(shadow)
  const last = missed.at(-1)!.seq
  t.true(sim.runUntil((s) => s.member(shadow)!.status().appliedSeq >= last, 10))
  t.is(sim.machine(shadow)!.state, sim.machine(primary)!.state)
  t.deepEqual(sim.check(), [])
})

test('the failover drill hands the primary role over without losing committed entries', (t) => {
  const { sim, primary: old } = electedSim({ seed: 6 })
  const ops = Array.from({ length: 10 }, () => sim.propose(old)!)
  const target = sim.members.find((m) => m !== old)!
  const start = sim.ticks
  sim.transferLeadership(old, target)
  t.is(sim.propose(old), undefined, 'no proposals while handing over')
  t.true(sim.runUntil((s) => s.primary() === target, 10))
  t.true(sim.ticks - start < 10, 'faster than an election timeout')

  t.is(sim.member(target)!.status().epoch, sim.member(old)!.status().epoch)
  t.true(sim.runUntil((s) => s.member(old)!.status().leader === target, 5))
  t.true(ops.every((p) => released(sim).some((r) => r.id === p.id && r.member === old)))
  const more = sim.propose(target)!
  t.true(sim.runUntil((s) => released(s).some((r) => r.id === more.id), 10))
  t.deepEqual(sim.check(), [])
})

test('a lagging shadow is sent InstallCheckpoint after compaction, and ends in the same state', (t) => {
  const { sim, primary } = electedSim({ seed: 7 })
  const [laggard, other] = sim.members.filter((m) => m !== primary) as [MemberId, MemberId]
  sim.isolate(laggard)
  const ops = Array.from({ length: 30 }, () => sim.propose(primary)!)
  const last = ops.at(-1)!.seq
  t.true(sim.runUntil((s) => s.member(other)!.status().appliedSeq >= last, 10))
  t.is(sim.compact(primary), last)
  sim.compact(other)
  t.is(sim.member(primary)!.status().firstSeq, last + 1)

  sim.heal()
  t.true(sim.runUntil((s) => s.member(laggard)!.status().appliedSeq >= last, 30))
  t.like(
    eventsOf(sim, primary).find((e) => e.type === 'checkpoint-sent'),
    { to: laggard, seq: last },
  )
  t.like(
    eventsOf(sim, laggard).find((e) => e.type === 'checkpoint-installed'),
    { seq: last },
  )
  t.is(sim.machine(laggard)!.state, sim.machine(primary)!.state)
  const more = sim.propose(primary)!
  t.true(sim.runUntil((s) => s.member(laggard)!.status().appliedSeq >= more.seq, 10))
  t.deepEqual(sim.check(), [])
})

test('the same seed replays the same history', (t) => {
  const run = () => {
    const sim = new Simulation({
      seed: 99,
      network: { drop: 0.05, duplicate: 0.05, maxDelay: 8 },
      persistDelay: 0.3,
    })
    for (let i = 0; i < 200; i++) {
      sim.propose()
      if (i === 50) sim.isolate('m1')
      if (i === 120) sim.heal()
      sim.run(1)
    }
    return JSON.stringify(sim.history)
  }
  const a = run()
  t.is(a, run())
  t.true(a.length > 10_000)
})
