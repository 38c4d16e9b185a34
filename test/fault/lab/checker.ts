/**
 * The fault run's judge (pure): from the client's history, the agents' store summaries, the primary
 * timeline and the faults, it reports what must never happen — acknowledged writes lost, reads of
 * values nobody wrote, two primaries writing in one epoch (two sites serving it, or two different entries
 * stored for one seq of one epoch), replicas whose committed entries or state digests differ at the same
 * entry — and what is measured: time without a serving primary per fault, stored vs committed.
 *
 * Models: 'register' (each write sets key := value; values are unique per key) and 'counter' (each
 * write adds value to key; reads return the total). A write is acknowledged when its result is 'ok';
 * 'fail' means it certainly did not happen, 'unknown' that it may have. Times are ms on one clock.
 *
 * `npx node test/fault/lab/checker.ts run.json` checks a run saved as JSON (a CheckInput) and exits 1
 * on any violation.
 */
import { readFileSync } from 'node:fs'

export type OpResult = 'ok' | 'fail' | 'unknown'

export interface ClientOp {
  op: 'write' | 'read'
  key: string
  /** write: the value written (register) or the amount added (counter). */
  value?: string | number
  /** When the client sent it and when it got the answer (or gave up). */
  start: number
  end: number
  result: OpResult
  /** read: the value returned; undefined or null when the key had none. */
  seen?: string | number | null
}

export interface EpochServed {
  epoch: number
  /** When this agent, as primary of the epoch, first applied a client write; absent: it wrote none. */
  firstWriteAt?: number
  lastWriteAt?: number
}

export interface StoreSummary {
  site: string
  epochsServedAsPrimary: readonly EpochServed[]
  /** State digest after each entry seq (a Map, or an object keyed by seq as in JSON). */
  digestsAtSeq: ReadonlyMap<number, string> | Readonly<Record<string, string>>
  storedSeq: number
  commitSeq: number
  /**
   * Every stored entry, committed or not, keyed `<seq>@<epoch>` (a Map, or an object as in JSON). One
   * primary writes one entry per seq in its epoch, so two different digests under one key mean two
   * primaries wrote in that epoch.
   */
  entryDigests?: ReadonlyMap<string, string> | Readonly<Record<string, string>>
}

/** A shadow's own report that its state digest differed from the primary's (the agent's 'divergence'). */
export interface DivergenceReport {
  at: number
  site: string
  seq: number
  expected: string
  got: string
}

/** From `at` on, the group's primary is `site` (null: none known). */
export interface PrimaryChange {
  at: number
  site: string | null
  epoch?: number
}

/** A fault as run (see faultRecords in nemesis.ts): `sites` are the ones it took out of service. */
export interface FaultRecord {
  id: number
  kind: string
  description: string
  at: number
  endedAt?: number
  sites: string[]
}

export interface CheckInput {
  history: readonly ClientOp[]
  stores: readonly StoreSummary[]
  timeline?: readonly PrimaryChange[]
  faults?: readonly FaultRecord[]
  model?: 'register' | 'counter'
  /** Divergences the replicas reported while running; each is a violation. */
  divergenceReports?: readonly DivergenceReport[]
  /** End of the run (default: the latest time in the input). */
  endAt?: number
}

export interface LostWrite {
  key: string
  /** register: the lost write; counter: absent (increments have no identity). */
  write?: ClientOp
  /** counter: how much of the acknowledged total is missing. */
  missing?: number
  finalRead: ClientOp
}

export interface BadRead {
  read: ClientOp
  reason: string
}

export interface FaultAvailability {
  id: number
  kind: string
  description: string
  at: number
  /** From this fault to the next one (or the end of the run). */
  windowMs: number
  withoutPrimaryMs: number
  longestGapMs: number
}

export interface StoreProgress {
  site: string
  storedSeq: number
  commitSeq: number
  /** Stored but not (yet) known committed. */
  uncommitted: number
  /** How far this replica's commit is behind the highest commit of any replica. */
  behind: number
}

export interface Report {
  model: 'register' | 'counter'
  ops: Record<'writes' | 'reads', Record<OpResult, number>>
  lostAcknowledgedWrites: LostWrite[]
  /** Reads of a value no write that could have happened wrote (violation). */
  phantomReads: BadRead[]
  /** Reads, before the final one, that missed an acknowledged write (information). */
  staleReads: BadRead[]
  /** Keys with acknowledged writes but no final read: their writes could not be checked. */
  uncheckedKeys: string[]
  splitBrainEpochs: { epoch: number; sites: string[] }[]
  /** Entries of one seq and epoch that differ between stores (evidence of a split brain, listed above). */
  conflictingEntries: { seq: number; epoch: number; digests: Record<string, string[]> }[]
  divergentDigests: { seq: number; digests: Record<string, string[]> }[]
  reportedDivergences: DivergenceReport[]
  timeWithoutPrimaryPerFault: FaultAvailability[]
  storedVsCommitted: StoreProgress[]
  violations: number
}

export function check(input: CheckInput): Report {
  const model = input.model ?? 'register'
  const ops = {
    writes: { ok: 0, fail: 0, unknown: 0 },
    reads: { ok: 0, fail: 0, unknown: 0 },
  }
  for (const op of input.history) ops[op.op === 'write' ? 'writes' : 'reads'][op.result]++
  const reads = model === 'register' ? checkRegister(input.history) : checkCounter(input.history)
  const conflictingEntries = entryConflicts(input.stores)
  const report: Report = {
    model,
    ops,
    ...reads,
    splitBrainEpochs: splitBrain(input.stores, conflictingEntries),
    conflictingEntries,
    divergentDigests: divergence(input.stores),
    reportedDivergences: [...(input.divergenceReports ?? [])].sort((a, b) => a.at - b.at),
    timeWithoutPrimaryPerFault: availability(input),
    storedVsCommitted: progress(input.stores),
    violations: 0,
  }
  report.violations =
    report.lostAcknowledgedWrites.length +
    report.phantomReads.length +
    report.splitBrainEpochs.length +
    report.divergentDigests.length +
    report.reportedDivergences.length
  return report
}

type ReadFindings = Pick<Report, 'lostAcknowledgedWrites' | 'phantomReads' | 'staleReads' | 'uncheckedKeys'>

function byKey(history: readonly ClientOp[]): Map<string, { writes: ClientOp[]; reads: ClientOp[] }> {
  const keys = new Map<string, { writes: ClientOp[]; reads: ClientOp[] }>()
  for (const op of history) {
    const entry = keys.get(op.key) ?? { writes: [], reads: [] }
    if (op.op === 'write') entry.writes.push(op)
    else if (op.result === 'ok') entry.reads.push(op)
    keys.set(op.key, entry)
  }
  return keys
}

/** The last read of a key (latest start); what the run's end state is judged by. */
function finalRead(reads: readonly ClientOp[]): ClientOp | undefined {
  let last: ClientOp | undefined
  for (const r of reads)
    if (!last || r.start > last.start || (r.start === last.start && r.end > last.end)) last = r
  return last
}

function checkRegister(history: readonly ClientOp[]): ReadFindings {
  const found: ReadFindings = {
    lostAcknowledgedWrites: [],
    phantomReads: [],
    staleReads: [],
    uncheckedKeys: [],
  }
  for (const [key, { writes, reads }] of byKey(history)) {
    const writeOf = new Map(writes.map((w) => [String(w.value), w]))
    const acked = writes.filter((w) => w.result === 'ok')
    const source = (r: ClientOp) =>
      r.seen === undefined || r.seen === null ? undefined : writeOf.get(String(r.seen))
    // r misses w when what r saw was never (successfully) written or was overwritten by w for certain:
    // its write finished before w began.
    const misses = (r: ClientOp, w: ClientOp) => {
      const s = source(r)
      return s !== w && (s === undefined || s.result === 'fail' || s.end < w.start)
    }
    const last = finalRead(reads)
    for (const r of reads) {
      if (r.seen !== undefined && r.seen !== null) {
        const s = writeOf.get(String(r.seen))
        if (!s) found.phantomReads.push({ read: r, reason: `no write of ${String(r.seen)} to ${key}` })
        else if (s.result === 'fail') {
          found.phantomReads.push({ read: r, reason: `the write of ${String(r.seen)} to ${key} had failed` })
        } else if (s.start > r.end) {
          found.phantomReads.push({ read: r, reason: `${String(r.seen)} was written only after the read` })
        }
      }
      if (r === last) continue
      const missed = acked.find((w) => w.end < r.start && misses(r, w))
      if (missed) {
        found.staleReads.push({
          read: r,
          reason: `missed ${String(missed.value)} acknowledged at ${missed.end}`,
        })
      }
    }
    if (!last) {
      if (acked.length > 0) found.uncheckedKeys.push(key)
      continue
    }
    for (const w of acked) {
      if (w.end < last.start && misses(last, w))
        found.lostAcknowledgedWrites.push({ key, write: w, finalRead: last })
    }
  }
  return found
}

function checkCounter(history: readonly ClientOp[]): ReadFindings {
  const found: ReadFindings = {
    lostAcknowledgedWrites: [],
    phantomReads: [],
    staleReads: [],
    uncheckedKeys: [],
  }
  for (const [key, { writes, reads }] of byKey(history)) {
    const amount = (w: ClientOp) => Number(w.value ?? 0)
    const last = finalRead(reads)
    if (!last) {
      if (writes.some((w) => w.result === 'ok')) found.uncheckedKeys.push(key)
      continue
    }
    for (const r of reads) {
      const seen = Number(r.seen ?? 0)
      const lower = writes
        .filter((w) => w.result === 'ok' && w.end < r.start)
        .reduce((n, w) => n + amount(w), 0)
      const upper = writes
        .filter((w) => w.result !== 'fail' && w.start < r.end)
        .reduce((n, w) => n + amount(w), 0)
      if (seen > upper) {
        found.phantomReads.push({
          read: r,
          reason: `${key} read ${seen}, more than the ${upper} that could be`,
        })
      }
      if (seen >= lower) continue
      if (r === last) found.lostAcknowledgedWrites.push({ key, missing: lower - seen, finalRead: r })
      else found.staleReads.push({ read: r, reason: `${key} read ${seen}, acknowledged total ${lower}` })
    }
  }
  return found
}

function splitBrain(
  stores: readonly StoreSummary[],
  conflicts: Report['conflictingEntries'],
): Report['splitBrainEpochs'] {
  const writers = new Map<number, Set<string>>()
  const split = new Set<number>()
  const add = (epoch: number, sites: Iterable<string>) => {
    const known = writers.get(epoch) ?? new Set()
    for (const site of sites) known.add(site)
    writers.set(epoch, known)
  }
  for (const store of stores) {
    for (const served of store.epochsServedAsPrimary) {
      if (served.firstWriteAt !== undefined) add(served.epoch, [store.site])
    }
  }
  for (const [epoch, sites] of writers) if (sites.size > 1) split.add(epoch)
  for (const c of conflicts) {
    add(c.epoch, Object.values(c.digests).flat())
    split.add(c.epoch)
  }
  return [...writers]
    .filter(([epoch]) => split.has(epoch))
    .map(([epoch, sites]) => ({ epoch, sites: [...sites].sort() }))
    .sort((a, b) => a.epoch - b.epoch)
}

function digestEntries(store: StoreSummary): [number, string][] {
  const d = store.digestsAtSeq
  if (d instanceof Map) return [...d]
  return Object.entries(d as Record<string, string>).map(([seq, digest]) => [Number(seq), digest])
}

function entryConflicts(stores: readonly StoreSummary[]): Report['conflictingEntries'] {
  const byKey = new Map<string, Map<string, string[]>>()
  for (const store of stores) {
    const d = store.entryDigests
    if (d === undefined) continue
    const pairs = d instanceof Map ? [...d] : Object.entries(d as Record<string, string>)
    for (const [key, digest] of pairs) {
      const digests = byKey.get(key) ?? new Map<string, string[]>()
      digests.set(digest, [...(digests.get(digest) ?? []), store.site])
      byKey.set(key, digests)
    }
  }
  return [...byKey]
    .filter(([, digests]) => digests.size > 1)
    .map(([key, digests]) => {
      const [seq, epoch] = key.split('@').map(Number) as [number, number]
      return { seq, epoch, digests: Object.fromEntries(digests) }
    })
    .sort((a, b) => a.epoch - b.epoch || a.seq - b.seq)
}

function divergence(stores: readonly StoreSummary[]): Report['divergentDigests'] {
  const bySeq = new Map<number, Map<string, string[]>>()
  for (const store of stores) {
    for (const [seq, digest] of digestEntries(store)) {
      const digests = bySeq.get(seq) ?? new Map<string, string[]>()
      digests.set(digest, [...(digests.get(digest) ?? []), store.site])
      bySeq.set(seq, digests)
    }
  }
  return [...bySeq]
    .filter(([, digests]) => digests.size > 1)
    .map(([seq, digests]) => ({ seq, digests: Object.fromEntries(digests) }))
    .sort((a, b) => a.seq - b.seq)
}

function progress(stores: readonly StoreSummary[]): StoreProgress[] {
  const top = Math.max(0, ...stores.map((s) => s.commitSeq))
  return stores.map((s) => ({
    site: s.site,
    storedSeq: s.storedSeq,
    commitSeq: s.commitSeq,
    uncommitted: s.storedSeq - s.commitSeq,
    behind: top - s.commitSeq,
  }))
}

function endOf(input: CheckInput): number {
  if (input.endAt !== undefined) return input.endAt
  const times = [
    ...input.history.map((op) => op.end),
    ...(input.timeline ?? []).map((c) => c.at),
    ...(input.faults ?? []).flatMap((f) => [f.at, f.endedAt ?? f.at]),
  ]
  return Math.max(0, ...times)
}

/**
 * Per fault, from its start to the next fault's start: how long there was no serving primary — none
 * known, or the known one's site killed, stopped or cut off by a fault in force.
 */
function availability(input: CheckInput): FaultAvailability[] {
  const faults = [...(input.faults ?? [])].sort((a, b) => a.at - b.at)
  const timeline = [...(input.timeline ?? [])].sort((a, b) => a.at - b.at)
  const end = endOf(input)
  const primaryAt = (t: number) => {
    let site: string | null = null
    for (const change of timeline) {
      if (change.at > t) break
      site = change.site
    }
    return site
  }
  const out = (site: string, t: number) =>
    faults.some((f) => f.sites.includes(site) && f.at <= t && t < (f.endedAt ?? end))
  const serving = (t: number) => {
    const site = primaryAt(t)
    return site !== null && !out(site, t)
  }
  return faults.map((fault, i) => {
    const from = fault.at
    const to = Math.max(from, faults[i + 1]?.at ?? end)
    const points = [
      from,
      to,
      ...timeline.map((c) => c.at),
      ...faults.flatMap((f) => [f.at, f.endedAt ?? end]),
    ]
      .filter((p) => p >= from && p <= to)
      .sort((a, b) => a - b)
    const marks = [...new Set(points)]
    let without = 0
    let gap = 0
    let longest = 0
    for (let j = 0; j + 1 < marks.length; j++) {
      const length = marks[j + 1]! - marks[j]!
      if (serving(marks[j]!)) gap = 0
      else {
        without += length
        gap += length
        longest = Math.max(longest, gap)
      }
    }
    return {
      id: fault.id,
      kind: fault.kind,
      description: fault.description,
      at: fault.at,
      windowMs: to - from,
      withoutPrimaryMs: Math.round(without),
      longestGapMs: Math.round(longest),
    }
  })
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

const verdict = (n: number) => (n === 0 ? 'ok' : 'VIOLATION')

export function formatTable(report: Report): string {
  const { ops } = report
  const parts: string[] = []
  parts.push(
    table([
      ['property', 'count', 'verdict'],
      [
        'acknowledged writes lost',
        String(report.lostAcknowledgedWrites.length),
        verdict(report.lostAcknowledgedWrites.length),
      ],
      [
        'reads of values never written',
        String(report.phantomReads.length),
        verdict(report.phantomReads.length),
      ],
      [
        'epochs with two writing primaries',
        String(report.splitBrainEpochs.length),
        verdict(report.splitBrainEpochs.length),
      ],
      [
        'entries where digests differ',
        String(report.divergentDigests.length),
        verdict(report.divergentDigests.length),
      ],
      [
        'digest mismatches shadows reported',
        String(report.reportedDivergences.length),
        verdict(report.reportedDivergences.length),
      ],
      ['stale reads (information)', String(report.staleReads.length), '-'],
      ['keys without a final read', String(report.uncheckedKeys.length), '-'],
    ]),
  )
  parts.push(
    `${report.model}: writes ok/fail/unknown ${ops.writes.ok}/${ops.writes.fail}/${ops.writes.unknown}, ` +
      `reads ${ops.reads.ok}/${ops.reads.fail}/${ops.reads.unknown}`,
  )
  if (report.timeWithoutPrimaryPerFault.length > 0) {
    parts.push(
      table([
        ['fault', 'at s', 'what', 'window ms', 'no primary ms', 'longest gap ms'],
        ...report.timeWithoutPrimaryPerFault.map((f) => [
          `#${f.id}`,
          (f.at / 1000).toFixed(1),
          f.description,
          String(Math.round(f.windowMs)),
          String(f.withoutPrimaryMs),
          String(f.longestGapMs),
        ]),
      ]),
    )
  }
  if (report.storedVsCommitted.length > 0) {
    parts.push(
      table([
        ['site', 'stored', 'committed', 'uncommitted', 'behind'],
        ...report.storedVsCommitted.map((s) =>
          [s.site, s.storedSeq, s.commitSeq, s.uncommitted, s.behind].map(String),
        ),
      ]),
    )
  }
  const details: string[] = []
  const first = <T>(items: readonly T[], line: (item: T) => string) => {
    for (const item of items.slice(0, 10)) details.push(`  ${line(item)}`)
    if (items.length > 10) details.push(`  ... and ${items.length - 10} more`)
  }
  first(report.lostAcknowledgedWrites, (l) =>
    l.write
      ? `lost: ${l.key} := ${String(l.write.value)} (ok at ${l.write.end}), final read at ${l.finalRead.start} saw ${String(l.finalRead.seen)}`
      : `lost: ${l.key} is missing ${l.missing} acknowledged, final read saw ${String(l.finalRead.seen)}`,
  )
  first(report.phantomReads, (p) => `phantom read at ${p.read.start}: ${p.reason}`)
  first(report.splitBrainEpochs, (s) => `epoch ${s.epoch}: writes served by ${s.sites.join(' and ')}`)
  first(
    report.conflictingEntries,
    (c) =>
      `entry ${c.seq} of epoch ${c.epoch} differs: ${Object.entries(c.digests)
        .map(([digest, sites]) => `${sites.join(',')}=${digest.slice(0, 12)}`)
        .join(' vs ')}`,
  )
  first(
    report.divergentDigests,
    (d) =>
      `entry ${d.seq}: ${Object.entries(d.digests)
        .map(([digest, sites]) => `${sites.join(',')}=${digest.slice(0, 12)}`)
        .join(' vs ')}`,
  )
  first(
    report.reportedDivergences,
    (d) =>
      `${d.site} reported a digest mismatch at entry ${d.seq}: ${d.got.slice(0, 12)}, primary ${d.expected.slice(0, 12)}`,
  )
  if (details.length > 0) parts.push(['violations:', ...details].join('\n'))
  parts.push(report.violations === 0 ? 'PASS' : `FAIL: ${report.violations} violation(s)`)
  return parts.join('\n\n')
}

export function exitCode(report: Report): number {
  return report.violations === 0 ? 0 : 1
}

if (import.meta.main) {
  const file = process.argv[2]
  if (file === undefined) {
    console.error('usage: checker.ts RUN.json  (a CheckInput: history, stores, timeline, faults, model)')
    process.exit(2)
  }
  const report = check(JSON.parse(readFileSync(file, 'utf8')) as CheckInput)
  console.log(formatTable(report))
  process.exit(exitCode(report))
}
