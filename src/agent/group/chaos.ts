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
      const others = sim.members.filter((m) => m !== from)
      if (from && sim.member(from)?.status().transferringTo === undefined) {
        sim.transferLeadership(from, rng.pick(others))
      }
    }
    if (up.length > 0 && rng.chance(o.compact)) sim.compact(rng.pick(up))
    sim.run(1)
  }
}
