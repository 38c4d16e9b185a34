import { runChaos } from '../../../src/agent/group/chaos.ts'
import type { Violation } from '../../../src/agent/group/checker.ts'
import { createPrng } from '../../../src/agent/group/prng.ts'
import { fingerprint, Simulation } from '../../../src/agent/group/simulation.ts'

export const CHAOS_TICKS = 300

/**
 * The group, network and disk drawn from the seed, put through CHAOS_TICKS ticks of random faults.
 * `membership`: members that stay down are also replaced (repair), and random members are removed
 * (the primary too) or added.
 */
export function chaosRun(seed: number, options: { membership?: boolean } = {}): Simulation {
  const r = createPrng(seed * 7919)
  const sim = new Simulation({
    seed,
    members: r.pick([3, 3, 4, 5, 5]),
    config: {
      electionTicks: r.pick([5, 10, 20]),
      heartbeatTicks: r.pick([1, 2]),
      maxBatchEntries: r.pick([1, 2, 8, 64]),
      maxInflightBytes: r.pick([64, 1024, 64 * 1024]),
    },
    network: {
      drop: r.pick([0, 0.02, 0.1]),
      duplicate: r.pick([0, 0.02, 0.1]),
      maxDelay: r.pick([2, 6, 12]),
      reorder: r.pick([0, 0, 0.1, 1]),
    },
    persistDelay: r.pick([0, 0.2, 0.5]),
  })
  const membership = options.membership
    ? {
        repair: r.pick([0.2, 0.5]),
        graceTicks: r.pick([5, 10, 20]),
        reconfigure: r.pick([0, 0.01, 0.03]),
        crash: r.pick([0.02, 0.04]),
        restart: r.pick([0.02, 0.06]),
      }
    : {}
  runChaos(sim, {
    ticks: CHAOS_TICKS,
    crash: r.pick([0.01, 0.03]),
    isolate: r.pick([0.02, 0.05]),
    ...membership,
  })
  return sim
}

/** A chaos run, then quiet: does the group recover, and does its history hold? */
export function randomRun(
  seed: number,
  options: { membership?: boolean } = {},
): {
  sim: Simulation
  recovered: boolean
  recoveryTicks: number
  violations: Violation[]
} {
  const sim = chaosRun(seed, options)

  // The faults stop: every node is up and connected. A client request must then commit on every
  // member of the group's configuration, and a membership change under way must finish.
  sim.heal()
  sim.network = { ...sim.network, drop: 0, duplicate: 0 }
  for (const m of sim.members) sim.restart(m)
  // Generous: under full reordering and one-entry batches a shadow drains its backlog slowly.
  const recovered = recovers(sim, 200 * sim.config.electionTicks)
  return { sim, recovered: recovered >= 0, recoveryTicks: recovered, violations: sim.check() }
}

/**
 * Ticks until some request proposed from now on is applied by every member (voter or learner) of the
 * primary's configuration, with no change pending and no learner left; -1 if not within `limit`.
 */
export function recovers(sim: Simulation, limit: number): number {
  const wanted: string[] = []
  const appliedBy = new Map<string, Set<string>>()
  let seen = sim.history.length
  for (let tick = 0; tick < limit; tick++) {
    if (tick % 5 === 0) {
      const p = sim.propose()
      if (p) wanted.push(fingerprint(new TextEncoder().encode(`op-${p.id}`)))
    }
    sim.run(1)
    for (; seen < sim.history.length; seen++) {
      const h = sim.history[seen]!
      if (h.type !== 'apply' || !wanted.includes(h.data)) continue
      const members = appliedBy.get(h.data) ?? new Set<string>()
      appliedBy.set(h.data, members.add(h.member))
    }
    const st = sim.primaryStatus()
    if (!st || st.pendingConfigSeq !== undefined || st.learners.length > 0) continue
    const group = st.members
    if (wanted.some((op) => group.every((m) => appliedBy.get(op)?.has(m)))) return tick + 1
  }
  return -1
}
