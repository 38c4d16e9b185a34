/** The nemesis: seeded schedules and their constraints, and the executor on a virtual clock. */
import test from 'ava'
import {
  type ExecutedStep,
  type FaultStep,
  faultRecords,
  formatSchedule,
  generateSchedule,
  type NemesisActions,
  PRIMARY,
  runSchedule,
  type Schedule,
  seedFrom,
} from './lab/nemesis.ts'

const sites = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`)

test('the same seed gives the same schedule, and another seed another', (t) => {
  const a = generateSchedule({ seed: 42, sites: sites(3), durationMs: 60_000 })
  t.deepEqual(generateSchedule({ seed: 42, sites: sites(3), durationMs: 60_000 }), a)
  t.notDeepEqual(generateSchedule({ seed: 43, sites: sites(3), durationMs: 60_000 }).steps, a.steps)
  t.true(a.steps.length > 5)
  const text = formatSchedule(a)
  t.regex(text, /^nemesis seed 42: .*--seed 42/)
  t.is(text.split('\n').length, a.steps.length + 1)
})

/** Replays a schedule's bookkeeping and returns the first broken constraint, if any. */
function brokenConstraint(schedule: Schedule): string | undefined {
  const n = schedule.sites.length
  const maxFaulty = Math.floor((n - 1) / 2)
  const open = new Map<number, { step: FaultStep; sites: string[] }>()
  const recovery: Record<string, string> = {
    kill: 'restart',
    stop: 'cont',
    partition: 'heal',
    isolate: 'heal',
    'one-way': 'heal',
  }
  let lastAt = 0
  for (const step of schedule.steps) {
    if (step.at < lastAt) return `step #${step.id} goes back in time`
    lastAt = step.at
    if (step.recovers !== undefined) {
      const fault = open.get(step.recovers)
      if (!fault) return `#${step.id} recovers #${step.recovers}, which is not in force`
      if (recovery[fault.step.kind] !== step.kind)
        return `#${step.id} ${step.kind} cannot undo a ${fault.step.kind}`
      if (step.kind !== 'heal' && step.target !== fault.step.target) return `#${step.id} targets another site`
      open.delete(step.recovers)
      continue
    }
    if (step.kind === 'clock-jump') {
      if (!step.target || !schedule.sites.includes(step.target) || !step.offsetMs)
        return `bad clock jump #${step.id}`
      continue
    }
    const out =
      step.kind === 'partition' ? step.groups![0]! : step.kind === 'one-way' ? [step.from!] : [step.target!]
    if (step.kind === 'partition') {
      const all = step.groups!.flat().sort()
      if (all.join() !== [...schedule.sites].sort().join())
        return `partition #${step.id} does not place every site once`
      if (step.groups![1]!.length <= n / 2) return `partition #${step.id} leaves no majority`
    }
    if (['partition', 'isolate', 'one-way'].includes(step.kind)) {
      if ([...open.values()].some((f) => ['partition', 'isolate', 'one-way'].includes(f.step.kind))) {
        return `#${step.id}: two network faults at once`
      }
    }
    open.set(step.id, { step, sites: out })
    const faulty = new Set([...open.values()].flatMap((f) => f.sites))
    if (faulty.size > maxFaulty) return `#${step.id}: ${faulty.size} sites faulty, more than ${maxFaulty}`
  }
  if (open.size > 0) return `the schedule ends with ${[...open.keys()].join(', ')} in force`
  return undefined
}

test('every schedule keeps a majority healthy, one network fault at a time, and ends healed', (t) => {
  for (const n of [3, 4, 5, 7]) {
    for (let seed = 0; seed < 150; seed++) {
      const schedule = generateSchedule({
        seed,
        sites: sites(n),
        durationMs: 60_000,
        minGapMs: 200,
        maxGapMs: 1500,
      })
      const broken = brokenConstraint(schedule)
      if (broken) return t.fail(`seed ${seed}, ${n} sites: ${broken}\n${formatSchedule(schedule)}`)
    }
  }
  t.pass()
})

test('the constraint checker above does catch a schedule that leaves a fault in force', (t) => {
  const schedule = generateSchedule({ seed: 1, sites: sites(3), durationMs: 30_000, kinds: ['kill'] })
  t.is(brokenConstraint(schedule), undefined)
  const cut = { ...schedule, steps: schedule.steps.filter((s) => s.kind !== 'restart') }
  t.regex(brokenConstraint(cut) ?? '', /in force|more than/)
})

test('one site gets only clock jumps (no minority to fault); kinds can be restricted', (t) => {
  const one = generateSchedule({ seed: 3, sites: ['solo'], durationMs: 20_000 })
  t.true(one.steps.every((s) => s.kind === 'clock-jump'))
  const nets = generateSchedule({
    seed: 3,
    sites: sites(5),
    durationMs: 60_000,
    kinds: ['partition', 'one-way'],
  })
  t.true(nets.steps.every((s) => ['partition', 'one-way', 'heal'].includes(s.kind)))
  t.true(nets.steps.some((s) => s.kind === 'partition'))
})

/** A virtual clock: sleeping advances time at once, and honours the signal. */
function virtualClock() {
  let now = 0
  return {
    now: () => now,
    sleep: async (ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted()
      now += ms
    },
  }
}

function recorder(primary?: () => string | undefined) {
  const calls: string[] = []
  const actions: NemesisActions = {
    kill: (s) => void calls.push(`kill ${s}`),
    restart: (s) => void calls.push(`restart ${s}`),
    stop: (s) => void calls.push(`stop ${s}`),
    cont: (s) => void calls.push(`cont ${s}`),
    partition: (g) => void calls.push(`partition ${JSON.stringify(g)}`),
    isolate: (s) => void calls.push(`isolate ${s}`),
    oneWay: (f, to) => void calls.push(`one-way ${f} ${to}`),
    heal: () => void calls.push('heal'),
    clockJump: (s, ms) => void calls.push(`clock ${s} ${ms}`),
    ...(primary ? { primary } : {}),
  }
  return { calls, actions }
}

const handMade = (steps: Omit<FaultStep, 'id'>[]): Schedule => ({
  seed: 0,
  sites: sites(3),
  durationMs: 10_000,
  steps: steps.map((s, i) => ({ ...s, id: i + 1 })),
})

test('the executor plays steps at their times, aims @primary at the primary and recovers that same site', async (t) => {
  let primary = 's1'
  const { calls, actions } = recorder(() => primary)
  const schedule = handMade([
    { at: 1000, kind: 'stop', target: PRIMARY },
    { at: 2000, kind: 'cont', target: PRIMARY, recovers: 1 },
    { at: 3000, kind: 'one-way', from: PRIMARY, to: 's2' },
    { at: 4000, kind: 'heal', recovers: 3 },
    { at: 5000, kind: 'clock-jump', target: 's0', offsetMs: -5000 },
  ])
  const log = await runSchedule(schedule, actions, {
    clock: virtualClock(),
    onStep: () => {
      primary = 's2' // the group elected another primary after the first fault
    },
  })
  t.deepEqual(calls, ['stop s1', 'cont s1', 'one-way s2 s0', 'heal', 'clock s0 -5000'])
  t.deepEqual(
    log.map((e) => e.startedAt),
    [1000, 2000, 3000, 4000, 5000],
  )
  const records = faultRecords(log)
  t.deepEqual(
    records.map((r) => [r.id, r.kind, r.description, r.at, r.endedAt, r.sites]),
    [
      [1, 'stop', 'stop s1', 1000, 2000, ['s1']],
      [3, 'one-way', 'one-way s2 -x-> s0', 3000, 4000, []],
      [5, 'clock-jump', 'clock-jump s0 -5000 ms', 5000, undefined, []],
    ],
  )
})

test('a failing action is recorded and the run goes on; a fault landing on a site already down is skipped', async (t) => {
  const { calls, actions } = recorder(() => 's0')
  actions.isolate = () => {
    throw new Error('nft refused')
  }
  const schedule = handMade([
    { at: 10, kind: 'kill', target: 's0' },
    { at: 20, kind: 'stop', target: PRIMARY }, // the primary is s0, which is dead: s1 stands in
    { at: 30, kind: 'isolate', target: 's2' },
    { at: 40, kind: 'heal', recovers: 3 },
    { at: 50, kind: 'cont', target: PRIMARY, recovers: 2 },
    { at: 60, kind: 'restart', target: 's0', recovers: 1 },
  ])
  const log = await runSchedule(schedule, actions, { clock: virtualClock() })
  t.deepEqual(calls, ['kill s0', 'stop s1', 'heal', 'cont s1', 'restart s0'])
  t.is(log[2]!.error, 'nft refused')

  const again = recorder(() => 's0')
  const skip = handMade([
    { at: 10, kind: 'stop', target: 's0' },
    { at: 20, kind: 'kill', target: 's0' },
    { at: 30, kind: 'restart', target: 's0', recovers: 2 },
    { at: 40, kind: 'cont', target: 's0', recovers: 1 },
  ])
  const skipped = await runSchedule(skip, again.actions, { clock: virtualClock() })
  t.deepEqual(again.calls, ['stop s0', 'cont s0'])
  t.deepEqual(
    skipped.map((e: ExecutedStep) => e.skipped),
    [undefined, 's0 is already down', 'fault #2 was skipped', undefined],
  )
})

test('on abort the executor undoes the faults in force at once, then throws', async (t) => {
  const controller = new AbortController()
  const { calls, actions } = recorder()
  actions.partition = (g) => {
    calls.push(`partition ${JSON.stringify(g)}`)
    controller.abort(new Error('stop the run'))
  }
  const schedule = handMade([
    { at: 10, kind: 'kill', target: 's1' },
    { at: 20, kind: 'partition', groups: [['s0'], ['s1', 's2']] },
    { at: 30, kind: 'clock-jump', target: 's2', offsetMs: 1000 },
    { at: 40, kind: 'heal', recovers: 2 },
    { at: 50, kind: 'restart', target: 's1', recovers: 1 },
  ])
  await t.throwsAsync(runSchedule(schedule, actions, { clock: virtualClock(), signal: controller.signal }), {
    message: 'stop the run',
  })
  t.deepEqual(calls, ['kill s1', 'partition [["s0"],["s1","s2"]]', 'heal', 'restart s1'])
})

test('the seed comes from --seed, else UNDERSTUDY_SEED, else is drawn', (t) => {
  t.is(seedFrom(['--seed', '17'], {}), 17)
  t.is(seedFrom([], { UNDERSTUDY_SEED: '99' }), 99)
  t.true(Number.isInteger(seedFrom([], {})))
  t.throws(() => seedFrom(['--seed', 'x'], {}), { message: /whole number/ })
})
