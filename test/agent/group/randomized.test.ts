import test from 'ava'
import { CHAOS_TICKS, randomRun } from './random-run.ts'

/**
 * Many seeds, each a different group (3 to 5 members, timing, batch size), network (delay, loss,
 * duplication, reordering) and disk (slow persistence), put through random isolation, partitions,
 * crashes, restarts, handovers and compactions; then the faults stop and the group must recover.
 * The second sweep adds membership changes: members down longer than a grace period are replaced by
 * new ones (repair), and random members, the primary included, are removed or added.
 * Rerun one seed with: SEED=<n> npx ava test/agent/group/randomized.test.ts
 * A larger sweep: GROUP_SEEDS=5000 npx ava test/agent/group/randomized.test.ts
 */
const count = (n: number) => Number(process.env.GROUP_SEEDS ?? n)
const seeds = (n: number) =>
  process.env.SEED ? [Number(process.env.SEED)] : Array.from({ length: count(n) }, (_, i) => i + 1)

function sweep(seedList: number[], membership: boolean) {
  const failed: string[] = []
  let releasedOutputs = 0
  let elections = 0
  let configChanges = 0
  let removals = 0
  let slowest = { seed: 0, ticks: 0 }
  for (const seed of seedList) {
    let outcome: ReturnType<typeof randomRun>
    try {
      outcome = randomRun(seed, { membership })
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
    for (const h of sim.history) {
      if (h.type === 'released') releasedOutputs++
      else if (h.type === 'became-primary') elections++
      else if (
        h.type === 'event' &&
        h.event.type === 'config-changed' &&
        h.event.committed &&
        h.member === h.event.members[0]
      )
        configChanges++
      else if (h.type === 'event' && h.event.type === 'removed') removals++
    }
  }
  return { failed, releasedOutputs, elections, configChanges, removals, slowest }
}

const plain = seeds(200)
test(`no safety property is violated over ${plain.length} seeds of random faults, and every group recovers`, (t) => {
  const r = sweep(plain, false)
  t.log(
    `${plain.length} seeds × ${CHAOS_TICKS} ticks: ${r.elections} elections, ${r.releasedOutputs} outputs released`,
  )
  t.log(`slowest recovery after the faults stopped: ${r.slowest.ticks} ticks (seed ${r.slowest.seed})`)
  t.deepEqual(r.failed, [], `rerun with SEED=<n>:\n${r.failed.join('\n')}`)
  t.true(r.releasedOutputs > plain.length * 10, 'the runs did real work')
  t.true(r.elections > plain.length, 'the runs changed primaries')
})

const withMembership = seeds(300)
test(`no safety property is violated over ${withMembership.length} seeds of random faults and membership changes, and every group recovers`, (t) => {
  const r = sweep(withMembership, true)
  t.log(
    `${withMembership.length} seeds × ${CHAOS_TICKS} ticks: ${r.elections} elections, ${r.releasedOutputs} outputs released, ${r.configChanges} committed configurations seen by their first voter, ${r.removals} removals learned`,
  )
  t.log(`slowest recovery after the faults stopped: ${r.slowest.ticks} ticks (seed ${r.slowest.seed})`)
  t.deepEqual(r.failed, [], `rerun with SEED=<n>:\n${r.failed.join('\n')}`)
  if (withMembership.length < 50) return
  t.true(r.releasedOutputs > withMembership.length * 10, 'the runs did real work')
  t.true(r.configChanges > withMembership.length, 'the runs changed the membership')
  t.true(r.removals > 0, 'removed members learned of their removal')
})
