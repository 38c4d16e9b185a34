/**
 * `npm run soak`: the long fault run (issue 8). One run as test/fault/run.ts does it, with a schedule
 * of faults over `--minutes` (default 10): kill -9, SIGSTOP/SIGCONT, partitions, isolation, one-way cuts
 * and clock jumps, one after another, each followed by its recovery. Prints the seed first (rerun with
 * --seed), then the figures, the checker's table and a JSON summary; exits 1 on any violation.
 *
 *   npm run soak -- --minutes 5 [--seed N] [--workers 3] [--keep]
 */
import { parseArgs } from 'node:util'
import { seedFrom } from './lab/index.ts'
import { faultRun, interruptible, type RunSummary, summaryLine } from './run.ts'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seed: { type: 'string' },
    workers: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
  },
})
const minutes = Number(values.minutes)
if (!(minutes > 0)) throw new RangeError(`--minutes ${values.minutes}: give a positive number`)
const seed = seedFrom(values.seed === undefined ? [] : ['--seed', values.seed])
console.log(`soak seed ${seed}, ${minutes} min (rerun: npm run soak -- --seed ${seed} --minutes ${minutes})`)

function figures(s: RunSummary): string {
  const ms = (n: number | undefined) => (n === undefined ? '-' : `${n} ms`)
  const faults = Object.entries(s.faultsPlayed)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ')
  return [
    `run              ${(s.runMs / 60_000).toFixed(1)} min, seed ${s.seed}`,
    `steps played     ${faults}`,
    `writes           ${s.writes.acked} acknowledged, ${s.writes.unknown} unknown; ${s.writes.perSecond} acked/s`,
    `lost             ${s.lost} acknowledged writes`,
    `split brain      ${s.splitBrainEpochs} epochs;  divergent entries ${s.divergentEntries};  reported divergences ${s.reportedDivergences}`,
    `failovers        ${s.failovers} (epochs ${s.epochsInStores.join(' ')}), agent-measured median ${ms(s.failoverMs.median)}, max ${ms(s.failoverMs.max)}`,
    `no primary       ${s.withoutPrimaryMs.faults} faults left a gap: median ${ms(s.withoutPrimaryMs.median)}, max ${ms(s.withoutPrimaryMs.max)}`,
    `stores           ${s.stores.map((x) => `${x.site} ${x.stored}/${x.committed}`).join(', ')} (stored/committed)`,
    `final keys       ${s.finalKeys}`,
    `replica failures ${s.replicaFailures.length}${s.replicaFailures.length > 0 ? `: ${[...new Set(s.replicaFailures.map((f) => f.replace(/\d+/g, 'N')))].join('; ')}` : ''}`,
    ...s.problems.map((p) => `problem          ${p}`),
    `verdict          ${s.verdict.toUpperCase()}`,
  ].join('\n')
}

const signal = interruptible()
try {
  const result = await faultRun({
    seed,
    durationMs: minutes * 60_000,
    workers: Number(values.workers),
    keep: values.keep,
    signal,
  })
  console.log(`\n${result.table}\n\n${figures(result.summary)}\n`)
  console.log(summaryLine(result.summary))
  if (result.summary.verdict === 'fail') {
    console.log(`FAILED: rerun with npm run soak -- --seed ${seed} --minutes ${minutes}`)
    process.exitCode = 1
  }
} catch (err) {
  console.error(`soak seed ${seed} could not complete: ${(err as Error).stack ?? err}`)
  process.exitCode = process.exitCode || 2
}
