/**
 * The nemesis: a fault schedule drawn from one seed, and an executor that plays it through callbacks
 * (the lab's network faults, the caller's process faults). Constraints of every schedule:
 * - at most a minority of sites (⌊(n-1)/2⌋) is faulty at any moment (killed, stopped, cut off);
 * - at most one network fault at a time (heal clears them all);
 * - every kill is followed by a restart, every stop by a cont, every network fault by a heal, so a
 *   schedule ends healed. Clock jumps are instantaneous and never undone (time does not go back).
 * A target of '@primary' is resolved by the executor when the step runs (the group's primary then).
 *
 * `npx node test/fault/lab/nemesis.ts --seed 42 --sites 3 --duration 60000` prints a schedule.
 */
import { randomInt } from 'node:crypto'
import { parseArgs } from 'node:util'
import { createPrng } from '../../../src/agent/group/prng.ts'
import type { FaultRecord } from './checker.ts'

export type FaultKind = 'kill' | 'stop' | 'partition' | 'isolate' | 'one-way' | 'clock-jump'
export type RecoveryKind = 'restart' | 'cont' | 'heal'
export type StepKind = FaultKind | RecoveryKind

export const PRIMARY = '@primary'

export interface FaultStep {
  id: number
  /** ms after the run started. */
  at: number
  kind: StepKind
  /** kill, stop, isolate, clock-jump, restart, cont: a site or '@primary'. */
  target?: string
  /** one-way: packets from `from` to `to` are dropped. */
  from?: string
  to?: string
  /** partition: groups that cannot talk across. */
  groups?: string[][]
  /** clock-jump: how far the site's wall clock jumps (ms, either sign). */
  offsetMs?: number
  /** A recovery step: the id of the fault it undoes (its target resolves to the same site). */
  recovers?: number
}

export interface Schedule {
  seed: number
  sites: string[]
  durationMs: number
  steps: FaultStep[]
}

export interface ScheduleOptions {
  seed: number
  sites: readonly string[]
  /** Faults start within [0, durationMs); their recoveries may come later. */
  durationMs: number
  /** Which faults to draw (default all). */
  kinds?: readonly FaultKind[]
  /** Time before the first fault (default 2000 ms). */
  warmupMs?: number
  /** Gap between two fault starts, drawn from [minGapMs, maxGapMs] (default 1000..4000). */
  minGapMs?: number
  maxGapMs?: number
  /** How long a fault lasts before its recovery, drawn from [minHoldMs, maxHoldMs] (default 1000..5000). */
  minHoldMs?: number
  maxHoldMs?: number
  /** Chance that a site-targeted fault aims at the primary (default 0.4). */
  primaryRate?: number
  /** Largest clock jump, ms (default 60000). */
  maxClockJumpMs?: number
}

export const ALL_FAULTS: readonly FaultKind[] = [
  'kill',
  'stop',
  'partition',
  'isolate',
  'one-way',
  'clock-jump',
]

const RECOVERY: Record<FaultKind, RecoveryKind | undefined> = {
  kill: 'restart',
  stop: 'cont',
  partition: 'heal',
  isolate: 'heal',
  'one-way': 'heal',
  'clock-jump': undefined,
}

const NETWORK: ReadonlySet<StepKind> = new Set(['partition', 'isolate', 'one-way'])

interface Active {
  step: FaultStep
  until: number
  /** Sites (or '@primary') this fault takes out of the majority. */
  faulty: string[]
}

export function generateSchedule(options: ScheduleOptions): Schedule {
  const sites = [...options.sites]
  if (sites.length < 1) throw new RangeError('a schedule needs at least one site')
  const o = {
    kinds: ALL_FAULTS,
    warmupMs: 2000,
    minGapMs: 1000,
    maxGapMs: 4000,
    minHoldMs: 1000,
    maxHoldMs: 5000,
    primaryRate: 0.4,
    maxClockJumpMs: 60_000,
    ...options,
  }
  const rng = createPrng(options.seed)
  const maxFaulty = Math.floor((sites.length - 1) / 2)
  const steps: FaultStep[] = []
  const active: Active[] = []
  let nextId = 1
  const between = (lo: number, hi: number) => lo + rng.int(Math.max(0, hi - lo) + 1)

  const recoverUntil = (time: number) => {
    active.sort((a, b) => a.until - b.until || a.step.id - b.step.id)
    while (active.length > 0 && active[0]!.until <= time) {
      const { step, until } = active.shift()!
      const kind = RECOVERY[step.kind as FaultKind]!
      const recovery: FaultStep = { id: nextId++, at: until, kind, recovers: step.id }
      if (step.target !== undefined && kind !== 'heal') recovery.target = step.target
      steps.push(recovery)
    }
  }

  for (let t = o.warmupMs; t < o.durationMs; t += between(o.minGapMs, o.maxGapMs)) {
    recoverUntil(t)
    const faulty = new Set(active.flatMap((a) => a.faulty))
    const healthy = sites.filter((s) => !faulty.has(s))
    const room = maxFaulty - faulty.size
    const netBusy = active.some((a) => NETWORK.has(a.step.kind))
    const candidates = o.kinds.filter((k) => {
      if (k === 'clock-jump') return healthy.length > 0
      if (room < 1 || healthy.length === 0) return false
      return !(NETWORK.has(k) && netBusy)
    })
    if (candidates.length === 0) continue
    const kind = rng.pick(candidates)
    const id = nextId++
    // '@primary' only while nothing else is down, so it cannot resolve onto a site already faulty.
    const target = () => (faulty.size === 0 && rng.chance(o.primaryRate) ? PRIMARY : rng.pick(healthy))
    let step: FaultStep
    let out: string[] = []
    switch (kind) {
      case 'kill':
      case 'stop':
      case 'isolate': {
        step = { id, at: t, kind, target: target() }
        out = [step.target!]
        break
      }
      case 'one-way': {
        const from = target()
        const to = rng.pick(sites.filter((s) => s !== from))
        step = { id, at: t, kind, from, to }
        out = [from]
        break
      }
      case 'partition': {
        const size = between(1, room)
        const minority = rng.shuffle([...healthy]).slice(0, size)
        step = { id, at: t, kind, groups: [minority, sites.filter((s) => !minority.includes(s))] }
        out = minority
        break
      }
      case 'clock-jump': {
        const magnitude = between(1000, o.maxClockJumpMs)
        step = {
          id,
          at: t,
          kind,
          target: rng.pick(healthy),
          offsetMs: rng.chance(0.5) ? magnitude : -magnitude,
        }
        break
      }
    }
    steps.push(step)
    if (RECOVERY[kind]) active.push({ step, until: t + between(o.minHoldMs, o.maxHoldMs), faulty: out })
  }
  recoverUntil(Number.POSITIVE_INFINITY)
  steps.sort((a, b) => a.at - b.at || a.id - b.id)
  return { seed: options.seed, sites, durationMs: options.durationMs, steps }
}

export function describeStep(step: FaultStep): string {
  switch (step.kind) {
    case 'partition':
      return `partition ${step.groups!.map((g) => `[${g.join(' ')}]`).join(' | ')}`
    case 'one-way':
      return `one-way ${step.from} -x-> ${step.to}`
    case 'clock-jump':
      return `clock-jump ${step.target} ${step.offsetMs! > 0 ? '+' : ''}${step.offsetMs} ms`
    case 'heal':
      return `heal (ends #${step.recovers})`
    case 'restart':
    case 'cont':
      return `${step.kind} ${step.target} (ends #${step.recovers})`
    default:
      return `${step.kind} ${step.target}`
  }
}

export function formatSchedule(schedule: Schedule): string {
  const lines = [
    `nemesis seed ${schedule.seed}: ${schedule.steps.length} steps over ${schedule.sites.join(' ')} ` +
      `(rerun with --seed ${schedule.seed})`,
  ]
  for (const step of schedule.steps) {
    lines.push(
      `${(step.at / 1000).toFixed(3).padStart(9)}s  #${String(step.id).padEnd(4)} ${describeStep(step)}`,
    )
  }
  return lines.join('\n')
}

/** What the executor does for each kind of step; the lab provides the network ones (see networkActions). */
export interface NemesisActions {
  kill(site: string): Promise<void> | void
  restart(site: string): Promise<void> | void
  stop(site: string): Promise<void> | void
  cont(site: string): Promise<void> | void
  partition(groups: string[][]): Promise<void> | void
  isolate(site: string): Promise<void> | void
  oneWay(from: string, to: string): Promise<void> | void
  heal(): Promise<void> | void
  clockJump(site: string, offsetMs: number): Promise<void> | void
  /** The group's primary now, for '@primary' targets (undefined when none is known). */
  primary?(): string | undefined | Promise<string | undefined>
}

export interface ExecutedStep {
  step: FaultStep
  /** The step with '@primary' resolved. */
  resolved: FaultStep
  startedAt: number
  endedAt: number
  /** The action threw (the run went on). */
  error?: string
  /** Not played, and why (a '@primary' fault that landed on a site already down, and its recovery). */
  skipped?: string
}

export interface RunOptions {
  signal?: AbortSignal
  /** Injected for tests; default: performance.now and a timer. */
  clock?: { now(): number; sleep(ms: number, signal?: AbortSignal): Promise<void> }
  onStep?: (executed: ExecutedStep) => void
}

const realClock = {
  now: () => performance.now(),
  sleep: (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason)
      const timer = setTimeout(done, ms)
      function done() {
        signal?.removeEventListener('abort', abort)
        resolve()
      }
      function abort() {
        clearTimeout(timer)
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', abort, { once: true })
    }),
}

/**
 * Plays `schedule` in time. A failing action is recorded and the run goes on (its recovery still
 * runs). On abort, the recoveries of faults in force run at once, so the run still ends healed; then
 * the abort reason is thrown. `startedAt`/`endedAt` are on the clock's time line.
 */
export async function runSchedule(
  schedule: Schedule,
  actions: NemesisActions,
  options: RunOptions = {},
): Promise<ExecutedStep[]> {
  const clock = options.clock ?? realClock
  const start = clock.now()
  const log: ExecutedStep[] = []
  const resolvedById = new Map<number, FaultStep>()
  const pending = new Map<number, FaultStep>()
  const down = new Set<string>()

  const processDown = new Set<string>()
  const skippedIds = new Set<number>()

  const play = async (step: FaultStep) => {
    const resolved = await resolve(step, actions, resolvedById, down, schedule.sites)
    const startedAt = clock.now()
    let error: string | undefined
    let skipped: string | undefined
    const fault = step.recovers === undefined ? undefined : resolvedById.get(step.recovers)
    if (step.recovers !== undefined && skippedIds.has(step.recovers)) {
      skipped = `fault #${step.recovers} was skipped`
    } else if ((step.kind === 'kill' || step.kind === 'stop') && processDown.has(resolved.target!)) {
      // Only when '@primary' resolved onto this site earlier: killing a stopped process muddles both.
      skipped = `${resolved.target} is already down`
      skippedIds.add(step.id)
    } else {
      try {
        await apply(resolved, actions)
      } catch (e) {
        error = e instanceof Error ? e.message : String(e)
      }
      if (fault === undefined) {
        if (RECOVERY[step.kind as FaultKind]) pending.set(step.id, step)
        for (const site of faultySites(resolved)) down.add(site)
        if (step.kind === 'kill' || step.kind === 'stop') processDown.add(resolved.target!)
      } else {
        pending.delete(fault.id)
        for (const site of faultySites(fault)) down.delete(site)
        if (fault.kind === 'kill' || fault.kind === 'stop') processDown.delete(fault.target!)
      }
    }
    resolvedById.set(step.id, resolved)
    const executed: ExecutedStep = {
      step,
      resolved,
      startedAt,
      endedAt: clock.now(),
      ...(error ? { error } : {}),
      ...(skipped ? { skipped } : {}),
    }
    log.push(executed)
    options.onStep?.(executed)
  }

  try {
    for (const step of schedule.steps) {
      const wait = start + step.at - clock.now()
      if (wait > 0) await clock.sleep(wait, options.signal)
      options.signal?.throwIfAborted()
      await play(step)
    }
  } catch (error) {
    const recoveries = schedule.steps.filter((s) => s.recovers !== undefined && pending.has(s.recovers))
    for (const step of recoveries) await play(step)
    throw error
  }
  return log
}

/** The sites a resolved fault step takes out (or, for a recovery, brings back). */
function faultySites(step: FaultStep): string[] {
  if (step.kind === 'one-way') return [step.from!]
  if (step.kind === 'partition') return step.groups![0] ?? []
  if (step.kind === 'clock-jump' || step.kind === 'heal') return []
  return step.target === undefined ? [] : [step.target]
}

async function resolve(
  step: FaultStep,
  actions: NemesisActions,
  resolvedById: Map<number, FaultStep>,
  down: ReadonlySet<string>,
  sites: readonly string[],
): Promise<FaultStep> {
  if (step.recovers !== undefined) {
    const fault = resolvedById.get(step.recovers)
    if (!fault) return step
    if (step.kind === 'heal') return { ...step }
    return { ...step, target: fault.target }
  }
  if (step.target !== PRIMARY && step.from !== PRIMARY) return step
  const primary = await actions.primary?.()
  // No primary known (or it is down already): the first healthy site stands in, deterministically.
  const site = primary !== undefined && !down.has(primary) ? primary : sites.find((s) => !down.has(s))
  if (site === undefined) throw new Error('no healthy site to aim a fault at')
  if (step.target === PRIMARY) return { ...step, target: site }
  const to = step.to === site ? sites.find((s) => s !== site && !down.has(s)) : step.to
  return { ...step, from: site, to }
}

async function apply(step: FaultStep, actions: NemesisActions): Promise<void> {
  switch (step.kind) {
    case 'kill':
      return actions.kill(step.target!)
    case 'restart':
      return actions.restart(step.target!)
    case 'stop':
      return actions.stop(step.target!)
    case 'cont':
      return actions.cont(step.target!)
    case 'partition':
      return actions.partition(step.groups!)
    case 'isolate':
      return actions.isolate(step.target!)
    case 'one-way':
      return actions.oneWay(step.from!, step.to!)
    case 'heal':
      return actions.heal()
    case 'clock-jump':
      return actions.clockJump(step.target!, step.offsetMs!)
  }
}

/** The lab's half of the actions; spread it with the caller's process actions. */
export function networkActions(lab: {
  partition(groups: string[][]): Promise<void>
  isolate(site: string): Promise<void>
  cutOneWay(from: string, to: string): Promise<void>
  heal(): Promise<void>
}): Pick<NemesisActions, 'partition' | 'isolate' | 'oneWay' | 'heal'> {
  return {
    partition: (groups) => lab.partition(groups),
    isolate: (site) => lab.isolate(site),
    oneWay: (from, to) => lab.cutOneWay(from, to),
    heal: () => lab.heal(),
  }
}

/** Each fault with the sites it took out and when it ended, for the checker. */
export function faultRecords(log: readonly ExecutedStep[]): FaultRecord[] {
  const records = new Map<number, FaultRecord>()
  for (const { step, resolved, startedAt, skipped } of log) {
    if (skipped) continue
    if (step.recovers === undefined) {
      records.set(step.id, {
        id: step.id,
        kind: step.kind,
        description: describeStep(resolved),
        at: startedAt,
        sites: step.kind === 'one-way' || step.kind === 'clock-jump' ? [] : faultySites(resolved),
      })
    } else {
      const fault = records.get(step.recovers)
      if (fault) fault.endedAt = startedAt
    }
  }
  return [...records.values()]
}

/** The seed: `--seed N`, else UNDERSTUDY_SEED, else a fresh one. Print it, so a failing run can be rerun. */
export function seedFrom(argv: readonly string[] = process.argv.slice(2), env = process.env): number {
  const { values } = parseArgs({ args: [...argv], options: { seed: { type: 'string' } }, strict: false })
  const given = values.seed ?? env.UNDERSTUDY_SEED
  if (given === undefined || given === true) return randomInt(2 ** 31)
  const seed = Number(given)
  if (!Number.isInteger(seed) || seed < 0)
    throw new RangeError(`--seed ${String(given)}: give a whole number ≥ 0`)
  return seed
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      sites: { type: 'string', default: '3' },
      duration: { type: 'string', default: '60000' },
    },
  })
  const seed = seedFrom(values.seed === undefined ? [] : ['--seed', values.seed])
  const count = Number(values.sites)
  const sites = Array.from({ length: count }, (_, i) => `s${i}`)
  console.log(formatSchedule(generateSchedule({ seed, sites, durationMs: Number(values.duration) })))
}
