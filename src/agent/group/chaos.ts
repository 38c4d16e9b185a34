import type { Prng } from './prng.ts'
import type { Simulation } from './simulation.ts'

/** Per-tick probabilities of each fault (and of client requests) injected by runChaos. */
export interface ChaosOptions {
  ticks: number
  propose: number
  isolate: number
  partition: number
  heal: number
  crash: number
  restart: number
  transfer: number
  compact: number
  /**
   * Repair, as the agent does it: the primary replaces a voter that has been down for `graceTicks` by
   * a new node (added as a learner, promoted once caught up, then the dead one removed), and drops a
   * learner that is down as long. The probability per tick of taking the next step.
   */
  repair: number
  graceTicks: number
  /** A random change: remove a voter (the primary itself included) or add a new node. */
  reconfigure: number
}

export const DEFAULT_CHAOS: Omit<ChaosOptions, 'ticks'> = {
  propose: 0.6,
  isolate: 0.02,
  partition: 0.02,
  heal: 0.05,
  crash: 0.015,
  restart: 0.06,
  transfer: 0.01,
  compact: 0.03,
  repair: 0,
  graceTicks: 20,
  reconfigure: 0,
}

/**
 * Drives a simulation through random faults for `ticks` ticks, every choice drawn from the
 * simulation's own PRNG so that the seed alone replays the run.
 */
export function runChaos(sim: Simulation, options: Partial<ChaosOptions> & { ticks: number }): void {
  const o = { ...DEFAULT_CHAOS, ...options }
  const rng = sim.rng
  for (let t = 0; t < o.ticks; t++) {
    if (rng.chance(o.propose)) {
      const n = 1 + rng.int(3)
      for (let i = 0; i < n; i++) sim.propose()
    }
    const up = sim.members.filter((m) => sim.isUp(m))
    const down = sim.members.filter((m) => !sim.isUp(m))
    if (rng.chance(o.isolate)) sim.isolate(rng.pick(sim.members))
    if (rng.chance(o.partition)) {
      const shuffled = rng.shuffle([...sim.members])
      const cut = 1 + rng.int(shuffled.length - 1)
      sim.partition(shuffled.slice(0, cut), shuffled.slice(cut))
    }
    if (rng.chance(o.heal)) sim.heal()
    if (up.length > 0 && rng.chance(o.crash)) sim.crash(rng.pick(up))
    if (down.length > 0 && rng.chance(o.restart)) sim.restart(rng.pick(down))
    if (rng.chance(o.transfer)) {
      const from = sim.primary()
      const st = from === undefined ? undefined : sim.member(from)!.status()
      const others = (st?.members ?? sim.members).filter((m) => m !== from)
      if (from && st?.transferringTo === undefined && others.length > 0) {
        sim.transferLeadership(from, rng.pick(others))
      }
    }
    if (up.length > 0 && rng.chance(o.compact)) sim.compact(rng.pick(up))
    if (rng.chance(o.repair)) repairStep(sim, o.graceTicks)
    if (rng.chance(o.reconfigure)) reconfigureStep(sim, rng)
    sim.run(1)
  }
}

/** One step of replacing members that stay down, driven from the primary's view of the group. */
export function repairStep(sim: Simulation, graceTicks: number): void {
  const st = sim.primaryStatus()
  if (!st || st.transferringTo !== undefined || st.pendingConfigSeq !== undefined) return
  const gone = (id: string) => (sim.downTicks(id) ?? -1) >= graceTicks
  const deadLearner = st.learners.find(gone)
  if (deadLearner !== undefined) {
    sim.removeMember(deadLearner)
    return
  }
  // A learner still catching up: the primary promotes it on its own.
  if (st.learners.length > 0) return
  const dead = st.members.find((id) => id !== st.id && gone(id))
  if (dead === undefined) return
  // Add first, then remove: the group never has fewer live voters than it had.
  if (st.members.length <= sim.config.members.length) addFreshNode(sim)
  else sim.removeMember(dead)
}

function reconfigureStep(sim: Simulation, rng: Prng): void {
  const st = sim.primaryStatus()
  if (!st || st.pendingConfigSeq !== undefined || st.learners.length > 0) return
  if (st.members.length > 2 && rng.chance(0.5)) sim.removeMember(rng.pick(st.members))
  else if (st.members.length <= sim.config.members.length) addFreshNode(sim)
}

/** A new node, added to the group; retired at once if the primary refuses the change. */
function addFreshNode(sim: Simulation): void {
  const id = sim.addNode()
  if (sim.addMember(id) === undefined) sim.retire(id)
}
