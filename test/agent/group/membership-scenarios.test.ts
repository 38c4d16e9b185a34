import test from 'ava'
import { repairStep } from '../../../src/agent/group/chaos.ts'
import type { HistoryEvent } from '../../../src/agent/group/checker.ts'
import { Simulation } from '../../../src/agent/group/simulation.ts'
import type { GroupEvent, MemberId } from '../../../src/agent/group/types.ts'

/** Repair on the deterministic in-memory cluster. Every scenario ends with the history checker. */

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

/** Every member of the primary's settled configuration has applied the latest committed entry. */
function settled(sim: Simulation): boolean {
  const st = sim.primaryStatus()
  if (!st || st.pendingConfigSeq !== undefined || st.learners.length > 0) return false
  return st.members.every((m) => sim.member(m)?.status().appliedSeq === st.commitSeq)
}

test('a crashed member is replaced: the new one joins as a learner, catches up, is promoted, then the dead one is removed', (t) => {
  const { sim, primary } = electedSim({ seed: 11 })
  const ops = Array.from({ length: 20 }, () => sim.propose(primary)!)
  const dead = sim.members.find((m) => m !== primary)!
  sim.crash(dead)
  const start = sim.now

  const fresh = sim.addNode()
  t.like(sim.member(fresh)!.status(), { role: 'shadow', learners: [fresh], removed: false })
  t.truthy(sim.addMember(fresh))
  t.true(
    sim.runUntil((s) => s.member(primary)!.status().members.includes(fresh), 30),
    'promoted once caught up',
  )
  t.true(sim.runUntil((s) => s.member(primary)!.status().pendingConfigSeq === undefined, 10))
  t.deepEqual(sim.member(primary)!.status().members, [...sim.config.members, fresh])
  t.truthy(sim.removeMember(dead))
  t.true(sim.runUntil(settled, 30))
  t.deepEqual(
    new Set(sim.member(primary)!.status().members),
    new Set([...sim.members].filter((m) => m !== dead)),
  )

  // The new member replayed everything: the same machine state as the primary, every op applied.
  t.is(sim.machine(fresh)!.state, sim.machine(primary)!.state)
  t.true(ops.every((p) => released(sim).some((r) => r.id === p.id)))
  const changes = eventsOf(sim, fresh, start).filter(
    (e): e is Extract<GroupEvent, { type: 'config-changed' }> => e.type === 'config-changed' && e.committed,
  )
  t.true(changes.some((e) => e.learners.includes(fresh)))
  t.true(changes.some((e) => e.members.includes(fresh)))
  t.false(
    eventsOf(sim, fresh).some((e) => e.type === 'election-started'),
    'a learner never campaigns',
  )

  // The group of three without the dead member commits without it.
  const more = sim.propose(primary)!
  t.true(sim.runUntil((s) => released(s).some((r) => r.id === more.id), 10))
  t.deepEqual(sim.check(), [])
})

test('a new member of a compacted group is brought up from a checkpoint plus the log after it', (t) => {
  const { sim, primary } = electedSim({ seed: 12 })
  for (let i = 0; i < 30; i++) sim.propose(primary)
  t.true(sim.runUntil((s) => s.members.every((m) => s.machine(m)!.appliedSeq >= 31), 20))
  for (const m of sim.members) sim.compact(m)
  for (let i = 0; i < 5; i++) sim.propose(primary)
  sim.run(3)

  const fresh = sim.addNode()
  sim.addMember(fresh)
  t.true(sim.runUntil(settled, 40))
  t.like(
    eventsOf(sim, fresh).find((e) => e.type === 'checkpoint-installed'),
    { seq: 31 },
  )
  t.like(sim.member(fresh)!.checkpoint(), { seq: 31, members: sim.config.members, learners: [] })
  t.is(sim.machine(fresh)!.state, sim.machine(primary)!.state)
  t.deepEqual(sim.check(), [])
})

test('replacing a crashed member again and again loses no committed entry', (t) => {
  const { sim } = electedSim({ seed: 13, network: { drop: 0.02, maxDelay: 4 } })
  const replaced: MemberId[] = []
  for (let round = 0; round < 5; round++) {
    const st = sim.primaryStatus()!
    const victim = sim.rng.pick(st.members.filter((m) => m !== st.id))
    sim.crash(victim)
    // Clients go on; the repair loop (as the agent runs it) does the rest after a grace period of 5 ticks.
    const ok = sim.runUntil((s) => {
      s.propose()
      repairStep(s, 5)
      const now = s.primaryStatus()
      return now !== undefined && !now.members.includes(victim) && settled(s)
    }, 300)
    t.true(ok, `round ${round}: ${victim} replaced`)
    replaced.push(victim)
    sim.retire(victim)
  }
  const st = sim.primaryStatus()!
  t.is(st.members.length, 3)
  t.false(
    st.members.some((m) => replaced.includes(m)),
    'every original shadow was replaced at least once',
  )
  t.true(released(sim).length > 100)
  for (const m of st.members) t.is(sim.machine(m)!.state, sim.machine(st.id)!.state)
  t.deepEqual(sim.check(), [])
})

test('a primary that removes itself hands over to a caught-up voter, and the group goes on without it', (t) => {
  const { sim, primary: old } = electedSim({ seed: 14 })
  const ops = Array.from({ length: 10 }, () => sim.propose(old)!)
  sim.run(2)
  const asked = sim.now
  t.truthy(sim.removeMember(old))
  t.true(sim.runUntil((s) => s.primary() !== undefined && s.primary() !== old, 15))
  const next = sim.primary()!
  t.like(
    eventsOf(sim, old).find((e) => e.type === 'stepped-down'),
    { reason: 'removed' },
  )
  t.true(eventsOf(sim, old).some((e) => e.type === 'removed'))
  t.true(
    eventsOf(sim, next).some((e) => e.type === 'election-started' && e.transfer),
    'by a handover',
  )
  t.true(ops.every((p) => released(sim).some((r) => r.id === p.id)))
  const more = sim.propose(next)!
  t.true(sim.runUntil((s) => released(s).some((r) => r.id === more.id), 10))
  t.deepEqual(
    sim.member(next)!.status().members,
    sim.config.members.filter((m) => m !== old),
  )
  sim.run(100)
  t.is(sim.member(old)!.status().role, 'shadow')
  t.false(eventsOf(sim, old, asked).some((e) => e.type === 'election-started'))
  t.deepEqual(sim.check(), [])
})

test('a removed member that comes back with a stale log does not disrupt the group', (t) => {
  const { sim, primary } = electedSim({ seed: 15 })
  const gone = sim.members.find((m) => m !== primary)!
  sim.crash(gone)
  sim.propose(primary)
  sim.run(3)
  sim.removeMember(gone)
  t.true(sim.runUntil(settled, 20))
  // Past the election timeout in which the primary still tells a removed member: this one never hears.
  sim.run(15)
  t.false(
    sim
      .member(primary)!
      .status()
      .followers.some((f) => f.member === gone),
  )
  const epoch = sim.member(primary)!.status().epoch
  const back = sim.now

  // It never saw its removal: it campaigns with its old configuration, and gets nowhere.
  sim.restart(gone)
  for (let i = 0; i < 100; i++) {
    sim.propose(primary)
    sim.run(1)
  }
  t.is(sim.primary(), primary)
  t.is(sim.member(primary)!.status().epoch, epoch)
  t.true(eventsOf(sim, gone, back).some((e) => e.type === 'election-started' && e.preVote))
  t.false(eventsOf(sim, gone, back).some((e) => e.type === 'became-primary'))
  t.deepEqual(sim.check(), [])
})

test('after a crash of every member, each restarts with the configuration in its log', (t) => {
  const { sim, primary } = electedSim({ seed: 16 })
  const fresh = sim.addNode()
  sim.addMember(fresh)
  t.true(sim.runUntil(settled, 30))
  const members = sim.member(primary)!.status().members
  t.is(members.length, 4)
  for (const m of sim.members) sim.crash(m)
  for (const m of sim.members) sim.restart(m)
  for (const m of sim.members) t.deepEqual(sim.member(m)!.status().members, members, m)
  t.true(sim.runUntil((s) => s.primary() !== undefined, 60))
  const p = sim.propose()!
  t.true(sim.runUntil((s) => released(s).some((r) => r.id === p.id), 20))
  t.deepEqual(sim.check(), [])
})
