import test from 'ava'
import { CHAOS_TICKS, randomRun } from './random-run.ts'

/**
 * Many seeds, each a different group (3 to 5 members, timing, batch size), network (delay, loss,
 * duplication, reordering) and disk (slow persistence), put through random isolation, partitions,
 * crashes, restarts, handovers and compactions; then the faults stop and the group must recover.
 * Rerun one seed with: SEED=<n> npx ava test/agent/group/randomized.test.ts
 */
const SEEDS = process.env.SEED ? [Number(process.env.SEED)] : Array.from({ length: 200 }, (_, i) => i + 1)

test(`no safety property is violated over ${SEEDS.length} seeds of random faults, and every group recovers`, (t) => {
  const failed: string[] = []
  let releasedOutputs = 0
  let elections = 0
  let slowest = { seed: 0, ticks: 0 }
  for (const seed of SEEDS) {
    let outcome: ReturnType<typeof randomRun>
    try {
      outcome = randomRun(seed)
    } catch (err) {
      failed.push(`seed ${seed} threw: ${(err as Error).stack}`)
      continue
    }
    const { sim, recovered, recoveryTicks, violations } = outcome
    if (recoveryTicks > slowest.ticks) slowest = { seed, ticks: recoveryTicks }
    for (const v of violations.slice(0, 3))
      failed.push(`seed ${seed}: ${v.property} at ${v.time}: ${v.message}`)
    if (!recovered)
      failed.push(`seed ${seed}: no primary committing on every member after the faults stopped`)
    releasedOutputs += sim.history.filter((h) => h.type === 'released').length
    elections += sim.history.filter((h) => h.type === 'became-primary').length
  }
  t.log(
    `${SEEDS.length} seeds × ${CHAOS_TICKS} ticks: ${elections} elections, ${releasedOutputs} outputs released`,
  )
  t.log(`slowest recovery after the faults stopped: ${slowest.ticks} ticks (seed ${slowest.seed})`)
  t.deepEqual(failed, [], `rerun with SEED=<n>:\n${failed.join('\n')}`)
  t.true(releasedOutputs > SEEDS.length * 10, 'the runs did real work')
  t.true(elections > SEEDS.length, 'the runs changed primaries')
})
