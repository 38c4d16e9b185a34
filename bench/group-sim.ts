/**
 * Failover time of the replica-group protocol in the deterministic simulator, in ticks, over many
 * seeds: from losing the primary (crash, or cut off) or asking for a handover, to a new primary, and
 * to its first commit (when it may release output again). Prints JSON.
 *
 *   npx node bench/group-sim.ts [seeds]
 */
import type { HistoryEvent } from '../src/agent/group/checker.ts'
import { DEFAULT_SIM_CONFIG, Simulation } from '../src/agent/group/simulation.ts'

type Fault = 'crash' | 'isolate' | 'transfer'

interface Sample {
  toPrimary: number
  toCommit: number
}

const seeds = Number(process.argv[2] ?? 500)
const members = 3

function measure(seed: number, fault: Fault): Sample | undefined {
  const sim = new Simulation({ seed, members })
  if (!sim.runUntil((s) => s.primary() !== undefined, 200)) return undefined
  for (let i = 0; i < 20; i++) {
    sim.propose()
    sim.run(1)
  }
  // Lose the primary at a random point between two ticks.
  sim.run(sim.rng.int(sim.stepsPerTick) / sim.stepsPerTick)
  const old = sim.primary()!
  const oldEpoch = sim.member(old)!.status().epoch
  const start = sim.now
  if (fault === 'crash') sim.crash(old)
  else if (fault === 'isolate') sim.isolate(old)
  else sim.transferLeadership(old, sim.members.find((m) => m !== old)!)

  let elected: Extract<HistoryEvent, { type: 'became-primary' }> | undefined
  let firstCommit: number | undefined
  let seen = sim.history.length
  const ok = sim.runUntil(() => {
    for (; seen < sim.history.length; seen++) {
      const h = sim.history[seen]!
      if (h.type === 'became-primary' && h.epoch > oldEpoch && !elected) elected = h
      if (elected && h.type === 'commit' && h.member === elected.member && h.time >= elected.time) {
        const epochStart = elected.log.at(-1)!.seq
        if (h.commitSeq >= epochStart) firstCommit = h.time
      }
    }
    return firstCommit !== undefined
  }, 500)
  if (!ok || !elected || firstCommit === undefined) return undefined
  return {
    toPrimary: (elected.time - start) / sim.stepsPerTick,
    toCommit: (firstCommit - start) / sim.stepsPerTick,
  }
}

function summary(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b)
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!
  const round = (x: number) => Math.round(x * 100) / 100
  return { median: round(q(0.5)), p99: round(q(0.99)), max: round(s.at(-1)!), min: round(s[0]!) }
}

const started = performance.now()
const results: Record<string, unknown> = {}
for (const fault of ['crash', 'isolate', 'transfer'] as const) {
  const samples: Sample[] = []
  let failed = 0
  for (let seed = 1; seed <= seeds; seed++) {
    const s = measure(seed, fault)
    if (s) samples.push(s)
    else failed++
  }
  const toPrimary = summary(samples.map((s) => s.toPrimary))
  results[fault] = {
    samples: samples.length,
    failed,
    ticksToNewPrimary: toPrimary,
    ticksToFirstCommit: summary(samples.map((s) => s.toCommit)),
    medianInElectionTimeouts: Math.round((toPrimary.median / DEFAULT_SIM_CONFIG.electionTicks) * 100) / 100,
  }
}

console.log(
  JSON.stringify(
    {
      bench: 'group-sim',
      unit: 'ticks',
      members,
      config: DEFAULT_SIM_CONFIG,
      network: 'FIFO links, 1-3 steps of 1/4 tick each, no loss',
      seeds,
      ...results,
      wallMs: Math.round(performance.now() - started),
    },
    null,
    2,
  ),
)
