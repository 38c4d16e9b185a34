/**
 * One fault run with real agents (issue 8): a 3-site lab with 20-80 ms links, an `understudy agent` per
 * site, the kv guest replicated three ways, client loops writing through the control API, and a nemesis
 * schedule drawn from the seed (kill -9, SIGSTOP/SIGCONT, partitions, isolation, one-way cuts, clock
 * jumps, and their recoveries). At the end everything is healed, the keys are read back, the agents are
 * stopped and their stores read, and the checker judges the history, stores and events.
 *
 *   npx node test/fault/run.ts [--seed N] [--duration 30000] [--workers 2] [--keep]
 *
 * prints the seed first (rerun a failing one with --seed), the schedule, the checker's table and a JSON
 * summary; exits 1 on a violation or when the run could not be judged (needs root, `ip`, `nft`).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { WorkloadSummary } from '../../src/agent/control/index.ts'
import { createPrng } from '../../src/agent/group/prng.ts'
import { KvClient } from '../../src/demo/kv-client.ts'
import { kvGuestPath } from '../../src/demo/kv-guest.ts'
import { EventRecorder } from './agent-events.ts'
import { LabAgents, sleep } from './agents.ts'
import { startClients } from './client-loop.ts'
import {
  type CheckInput,
  type ClientOp,
  check,
  cleanupStale,
  createLab,
  type ExecutedStep,
  type FaultKind,
  faultRecords,
  formatSchedule,
  formatTable,
  generateSchedule,
  type Lab,
  labSupport,
  linkProfile,
  type Report,
  runSchedule,
  type Schedule,
  type ScheduleOptions,
  seedFrom,
} from './lab/index.ts'
import { PausingClock } from './pausing-clock.ts'
import { epochStarts, readGroup, summarizeGroup } from './stores.ts'
import {
  divergenceReports,
  epochsServed,
  type Failover,
  failovers,
  median,
  type ProcessFault,
  primaryTimeline,
  replicaFailures,
} from './timeline.ts'

export const WORKLOAD = 'kv'

export interface FaultRunOptions {
  seed: number
  /** Faults start within this many ms of the first one's warm-up; their recoveries may come later. */
  durationMs: number
  /** Concurrent client loops (default 2). */
  workers?: number
  /** Which faults to draw (default all). */
  kinds?: readonly FaultKind[]
  /** Overrides of the schedule's timing (gaps, holds, warm-up). */
  schedule?: Partial<Omit<ScheduleOptions, 'seed' | 'sites' | 'durationMs' | 'kinds'>>
  /** Link delays are drawn per site pair from [minMs, maxMs] (default 20..80), ± jitterMs (default 5). */
  link?: { minMs: number; maxMs: number; jitterMs?: number }
  /** Progress lines (default: console.log). */
  log?: (line: string) => void
  /** Keep the run's directory (data dirs, stores, configs); it is always kept when the run fails. */
  keep?: boolean
  /** Ends the run early; it still heals, cleans up and rejects with the reason. */
  signal?: AbortSignal
}

export interface RunSummary {
  seed: number
  verdict: 'pass' | 'fail'
  runMs: number
  faultsPlayed: Record<string, number>
  stepErrors: string[]
  writes: { acked: number; unknown: number; perSecond: number }
  lost: number
  splitBrainEpochs: number
  divergentEntries: number
  reportedDivergences: number
  failovers: number
  failoverMs: { median: number | undefined; max: number | undefined }
  /** Per fault that left the group without a serving primary: the longest such gap. */
  withoutPrimaryMs: { faults: number; median: number | undefined; max: number | undefined }
  finalEpoch: number
  epochsInStores: number[]
  stores: { site: string; stored: number; committed: number }[]
  finalKeys: number
  /** Replicas that failed during the run (`<site>: <reason>`): information, the checker judges the rest. */
  replicaFailures: string[]
  /** Why the run could not be judged fully (each fails it). */
  problems: string[]
  dir: string | undefined
}

export interface FaultRunResult {
  schedule: Schedule
  report: Report
  table: string
  summary: RunSummary
  input: CheckInput
  failoversSeen: Failover[]
}

export async function faultRun(options: FaultRunOptions): Promise<FaultRunResult> {
  const support = labSupport()
  if (!support.ok) throw new Error(support.reason)
  const log = options.log ?? ((line: string) => console.log(line))
  const outer = options.signal
  const t0 = performance.now()
  const now = () => performance.now() - t0
  const toRunTime = (wallMs: number) => wallMs - performance.timeOrigin - t0
  const stamp = () => `[${(now() / 1000).toFixed(1).padStart(6)}s]`
  const say = (line: string) => log(`${stamp()} ${line}`)

  const schedule = generateSchedule({
    warmupMs: 3000,
    ...options.schedule,
    seed: options.seed,
    sites: ['s0', 's1', 's2'],
    durationMs: options.durationMs,
    ...(options.kinds ? { kinds: options.kinds } : {}),
  })
  log(formatSchedule(schedule))

  cleanupStale('us')
  const dir = await mkdtemp(join(tmpdir(), 'understudy-fault-'))
  const stopEvents = new AbortController()
  const stopClients = new AbortController()
  let lab: Lab | undefined
  let agents: LabAgents | undefined
  let failed = true
  const problems: string[] = []
  try {
    lab = await createLab({ sites: schedule.sites, seed: options.seed })
    const link = options.link ?? { minMs: 20, maxMs: 80, jitterMs: 5 }
    const links = linkProfile(createPrng(options.seed), lab.sites, link)
    for (const l of links) await lab.setLink(l.from, l.to, l.settings)
    say(
      `lab ${lab.plan.name} (${lab.plan.subnet}): ${links
        .filter((l) => l.from < l.to)
        .map((l) => `${l.from}-${l.to} ${l.settings.delayMs}±${l.settings.jitterMs} ms`)
        .join(', ')}`,
    )

    agents = await LabAgents.start({ lab, root: dir })
    const the = agents
    const events = new EventRecorder(toRunTime)
    for (const a of the.agents) events.follow(a.site, a.client, stopEvents.signal, a.peerId)
    await the.waitForMesh(60_000, outer)
    say(`agents ready: ${the.agents.map((a) => `${a.site}=${a.peerId.slice(-6)}`).join(' ')}`)

    const image = await kvGuestPath()
    await the.agents[0]!.client.run(
      { name: WORKLOAD, image, replicas: 3, args: ['/data'] },
      { timeoutMs: 120_000, signal: outer },
    )
    let w = await waitForPrimary(the, 60_000, outer)
    say(`${WORKLOAD} runs: primary ${the.siteOf(w.primary!)} epoch ${w.epoch}`)

    const clients = startClients({
      clients: the.agents.map((a) => a.client),
      workload: WORKLOAD,
      workers: options.workers ?? 2,
      tag: `r${options.seed}`,
      now,
      signal: stopClients.signal,
    })
    const clientsFrom = now()

    const processFaults: ProcessFault[] = []
    const mark = (site: string, kind: ProcessFault['kind']) => processFaults.push({ at: now(), site, kind })
    const schedStart = now()
    const clock = new PausingClock(() => now() - schedStart)
    const played: ExecutedStep[] = []
    await runSchedule(
      schedule,
      {
        partition: clock.action((groups: string[][]) => lab!.partition(groups)),
        isolate: clock.action((site: string) => lab!.isolate(site)),
        oneWay: clock.action((from: string, to: string) => lab!.cutOneWay(from, to)),
        heal: clock.action(() => lab!.heal()),
        kill: clock.action(async (site: string) => {
          mark(site, 'kill')
          await the.kill(site)
        }),
        restart: clock.action(async (site: string) => {
          await the.restart(site)
          mark(site, 'restart')
        }),
        stop: clock.action((site: string) => {
          mark(site, 'stop')
          the.stop(site)
        }),
        cont: clock.action((site: string) => {
          the.cont(site)
          mark(site, 'cont')
        }),
        clockJump: clock.action(async (site: string, offsetMs: number) => {
          await the.clockJump(site, offsetMs)
        }),
        primary: clock.lookup(() => currentPrimary(the)),
      },
      {
        ...(outer ? { signal: outer } : {}),
        clock,
        onStep: (step) => {
          // On the run's time line, so faults line up with the history and the events.
          const s = clock.toReal(step)
          s.startedAt += schedStart
          s.endedAt += schedStart
          played.push(s)
          const note = `${s.error ? `  ERROR ${s.error.split('\n').slice(0, 8).join('\n')}` : ''}${s.skipped ? `  (skipped: ${s.skipped})` : ''}`
          say(`#${s.step.id} ${describe(s)}${note}`)
        },
      },
    )
    const shifted = played

    // Everything healed and back; the group must find a primary again.
    await lab.heal()
    await the.reviveAll()
    say('schedule done: healed, every agent running')
    try {
      w = await waitForPrimary(the, 60_000, outer)
      say(`primary ${the.siteOf(w.primary!)} epoch ${w.epoch}`)
    } catch (err) {
      problems.push(`no primary within 60 s of the end of the faults: ${(err as Error).message}`)
    }
    // A few more acknowledged writes on the healed group, then the clients stop.
    const before = clients.acknowledged()
    await waitUntil(() => clients.acknowledged() >= before + 5, 20_000, outer)
    stopClients.abort(new Error('the run is over'))
    await clients.done
    const clientsTo = now()
    const caught = await waitForCatchUp(the, 30_000, outer)
    if (!caught) say('not every replica caught up within 30 s (reported as it is)')

    // The final read: every key the guest holds.
    const readStart = now()
    let finalKeys: Set<string> | undefined
    try {
      const reader = new KvClient(
        the.agents.map((a) => a.client),
        WORKLOAD,
        { retryAfterMs: 5000, giveUpAfterMs: 60_000, ...(outer ? { signal: outer } : {}) },
      )
      finalKeys = new Set(await reader.keys())
    } catch (err) {
      problems.push(`the final read failed: ${(err as Error).message}`)
    }
    const readEnd = now()
    say(`final read: ${finalKeys?.size ?? 'no'} keys`)

    await the.shutdown()
    stopEvents.abort()
    await events.done()
    say('agents stopped')

    const recorded = events.sorted()
    const served = epochsServed(recorded, WORKLOAD)
    const stores = []
    const epochsInStores = new Set<number>()
    for (const a of the.agents) {
      const group = await readGroup(join(a.dataDir, 'store'), WORKLOAD)
      if (!group) {
        problems.push(`${a.site} holds no replica of ${WORKLOAD}`)
        continue
      }
      for (const e of epochStarts(group)) epochsInStores.add(e.epoch)
      stores.push(summarizeGroup(a.site, group, served.get(a.site) ?? []))
    }

    const history: ClientOp[] = [...clients.history]
    if (finalKeys) {
      for (const op of clients.history) {
        history.push({
          op: 'read',
          key: op.key,
          start: readStart,
          end: readEnd,
          result: 'ok',
          seen: finalKeys.has(op.key) ? (op.value as string) : null,
        })
      }
    }
    const input: CheckInput = {
      model: 'register',
      history,
      stores,
      timeline: primaryTimeline(recorded, processFaults, WORKLOAD),
      faults: faultRecords(shifted),
      divergenceReports: divergenceReports(recorded, WORKLOAD),
      endAt: readEnd,
    }
    const report = check(input)
    const seen = failovers(recorded, WORKLOAD)
    // A step that could not be played (an agent that would not start again) leaves the run unjudged.
    const stepErrors = shifted
      .filter((s) => s.error)
      .map((s) => `#${s.step.id} ${describe(s)}: ${s.error!.split('\n')[0]}`)
    problems.push(...stepErrors.map((e) => `step failed: ${e}`))
    const gaps = report.timeWithoutPrimaryPerFault.map((f) => f.longestGapMs).filter((ms) => ms > 0)
    const writes = clients.history
    const acked = writes.filter((op) => op.result === 'ok').length
    const summary: RunSummary = {
      seed: options.seed,
      verdict: report.violations === 0 && problems.length === 0 ? 'pass' : 'fail',
      runMs: Math.round(now()),
      faultsPlayed: countBy(shifted.filter((s) => !s.skipped).map((s) => s.step.kind)),
      stepErrors,
      writes: {
        acked,
        unknown: writes.length - acked,
        perSecond: Math.round((10 * acked) / Math.max(0.001, (clientsTo - clientsFrom) / 1000)) / 10,
      },
      lost: report.lostAcknowledgedWrites.length,
      splitBrainEpochs: report.splitBrainEpochs.length,
      divergentEntries: report.divergentDigests.length,
      reportedDivergences: report.reportedDivergences.length,
      failovers: seen.length,
      failoverMs: {
        median: round(median(seen.map((f) => f.tookMs))),
        max: round(max(seen.map((f) => f.tookMs))),
      },
      withoutPrimaryMs: { faults: gaps.length, median: round(median(gaps)), max: round(max(gaps)) },
      finalEpoch: Math.max(0, ...epochsInStores),
      epochsInStores: [...epochsInStores].sort((a, b) => a - b),
      stores: report.storedVsCommitted.map((s) => ({
        site: s.site,
        stored: s.storedSeq,
        committed: s.commitSeq,
      })),
      finalKeys: finalKeys?.size ?? 0,
      replicaFailures: replicaFailures(recorded, WORKLOAD),
      problems,
      dir: undefined,
    }
    failed = summary.verdict === 'fail'
    if (failed || options.keep) {
      summary.dir = dir
      await writeFile(join(dir, 'check-input.json'), JSON.stringify(input, jsonReplacer))
      await writeFile(join(dir, 'events.json'), JSON.stringify(recorded))
      await writeFile(join(dir, 'agents.log'), the.dump(Number.POSITIVE_INFINITY))
    }
    let table = formatTable(report)
    if (problems.length > 0) table += `\n\nproblems:\n${problems.map((p) => `  ${p}`).join('\n')}`
    return { schedule, report, table, summary, input, failoversSeen: seen }
  } catch (err) {
    if (agents) log(agents.dump())
    throw err
  } finally {
    stopClients.abort(new Error('the run is over'))
    stopEvents.abort()
    agents?.killAll()
    await lab?.close()
    if (!failed && !options.keep) await rm(dir, { recursive: true, force: true })
    else log(`run directory kept: ${dir}`)
  }
}

function describe(s: ExecutedStep): string {
  const r = s.resolved
  switch (r.kind) {
    case 'partition':
      return `partition ${r.groups!.map((g) => `[${g.join(' ')}]`).join(' | ')}`
    case 'one-way':
      return `one-way ${r.from} -x-> ${r.to}`
    case 'clock-jump':
      return `clock-jump ${r.target} ${r.offsetMs! > 0 ? '+' : ''}${r.offsetMs} ms`
    case 'heal':
      return `heal (ends #${r.recovers})`
    default:
      return `${r.kind} ${r.target}${s.step.target === '@primary' ? ' (@primary)' : ''}`
  }
}

/** The site of the group's serving primary now, asked of every running agent; undefined if none. */
async function currentPrimary(agents: LabAgents): Promise<string | undefined> {
  const summary = await anyWorkload(agents, 3000).catch(() => undefined)
  return summary?.primary === undefined ? undefined : agents.siteOf(summary.primary)
}

/** The first answer with a live primary from any running agent. */
function anyWorkload(agents: LabAgents, timeoutMs: number): Promise<WorkloadSummary> {
  const running = agents.agents.filter((a) => a.state === 'running')
  return Promise.any(
    running.map(async (a) => {
      const w = (await a.client.workloads({ timeoutMs })).find((x) => x.name === WORKLOAD)
      if (!w?.primary) throw new Error(`${a.site} knows no primary`)
      return w
    }),
  )
}

async function waitForPrimary(agents: LabAgents, timeoutMs: number, signal?: AbortSignal) {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    signal?.throwIfAborted()
    const w = await anyWorkload(agents, 3000).catch(() => undefined)
    if (w && (w.state === 'running' || w.state === 'degraded')) return w
    if (performance.now() > deadline) throw new Error(`${WORKLOAD} had no primary within ${timeoutMs} ms`)
    await sleep(200, signal)
  }
}

/** Until every replica is reachable and has applied what is committed; false on time-out. */
async function waitForCatchUp(agents: LabAgents, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  return waitUntil(
    async () => {
      const w = await anyWorkload(agents, 3000).catch(() => undefined)
      return w?.replicas.every((r) => r.reachable && r.appliedSeq >= w.committedSeq - 1) ?? false
    },
    timeoutMs,
    signal,
  )
}

async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (await condition()) return true
    if (performance.now() > deadline) return false
    await sleep(200, signal)
  }
}

function countBy(items: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const item of items) out[item] = (out[item] ?? 0) + 1
  return out
}

function max(values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : Math.max(...values)
}

function round(n: number | undefined, digits = 0): number | undefined {
  if (n === undefined) return undefined
  const f = 10 ** digits
  return Math.round(n * f) / f
}

/** Maps as objects, so a saved CheckInput can be judged again with `checker.ts run.json`. */
function jsonReplacer(_key: string, value: unknown): unknown {
  return value instanceof Map ? Object.fromEntries(value) : value
}

/** The run's summary as one JSON line, without the bulky parts. */
export function summaryLine(summary: RunSummary): string {
  return JSON.stringify(summary)
}

/**
 * For CLIs: SIGINT/SIGTERM end the run (it still heals and cleans up); a second signal exits at once.
 * Returns the signal to pass as the run's.
 */
export function interruptible(): AbortSignal {
  const controller = new AbortController()
  let signals = 0
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) process.exit(130)
    console.error(`${signal}: ending the run (a second one exits at once)`)
    process.exitCode = 130
    controller.abort(new Error(`interrupted by ${signal}`))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return controller.signal
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      duration: { type: 'string', default: '30000' },
      workers: { type: 'string', default: '3' },
      keep: { type: 'boolean', default: false },
    },
  })
  const seed = seedFrom(values.seed === undefined ? [] : ['--seed', values.seed])
  console.log(`fault run seed ${seed} (rerun: npx node test/fault/run.ts --seed ${seed})`)
  const signal = interruptible()
  try {
    const result = await faultRun({
      seed,
      durationMs: Number(values.duration),
      workers: Number(values.workers),
      keep: values.keep,
      signal,
    })
    console.log(`\n${result.table}\n`)
    console.log(summaryLine(result.summary))
    if (result.summary.verdict === 'fail') {
      console.log(`FAILED: rerun with npx node test/fault/run.ts --seed ${seed}`)
      process.exitCode = 1
    }
  } catch (err) {
    console.error(`fault run seed ${seed} could not complete: ${(err as Error).stack ?? err}`)
    process.exitCode = process.exitCode || 2
  }
}
