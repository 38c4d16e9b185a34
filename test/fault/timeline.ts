/**
 * What the agents' events say about the group (pure): who was the serving primary when, which site
 * served which epoch, which shadows reported a digest mismatch, and how long promotions took. A
 * primary serves from its 'promotion' (the guest live in its epoch) until it steps down or its process
 * is killed; the checker also counts it out while a fault in force takes its site out.
 */

import type { RecordedEvent } from './agent-events.ts'
import type { DivergenceReport, EpochServed, PrimaryChange } from './lab/index.ts'

export interface ProcessFault {
  at: number
  site: string
  kind: 'kill' | 'restart' | 'stop' | 'cont'
}

type Item = { at: number; order: number } & (
  | { type: 'promotion'; site: string; epoch: number }
  | { type: 'step-down'; site: string; epoch: number }
  | { type: 'kill'; site: string }
)

export function primaryTimeline(
  events: readonly RecordedEvent[],
  faults: readonly ProcessFault[],
  workload: string,
): PrimaryChange[] {
  const items: Item[] = []
  let order = 0
  for (const { at, site, event } of events) {
    if (event.type === 'promotion' && event.workload === workload) {
      items.push({ at, order: order++, type: 'promotion', site, epoch: event.epoch })
    } else if (event.type === 'step-down' && event.workload === workload) {
      items.push({ at, order: order++, type: 'step-down', site, epoch: event.epoch })
    }
  }
  for (const f of faults)
    if (f.kind === 'kill') items.push({ at: f.at, order: order++, type: 'kill', site: f.site })
  items.sort((a, b) => a.at - b.at || a.order - b.order)
  const changes: PrimaryChange[] = []
  let serving: string | null = null
  let epoch = 0
  for (const item of items) {
    if (item.type === 'promotion') {
      // A late event of an older epoch (a stopped agent's, delivered after SIGCONT) changes nothing.
      if (item.epoch < epoch) continue
      serving = item.site
      epoch = item.epoch
      changes.push({ at: item.at, site: serving, epoch })
    } else if (serving !== null && item.site === serving) {
      serving = null
      changes.push({ at: item.at, site: null, epoch })
    }
  }
  return changes
}

/** Per site, the epochs it served as primary (from its promotions), for the checker's split-brain test. */
export function epochsServed(events: readonly RecordedEvent[], workload: string): Map<string, EpochServed[]> {
  const out = new Map<string, EpochServed[]>()
  for (const { at, site, event } of events) {
    if (event.type !== 'promotion' || event.workload !== workload) continue
    const list = out.get(site) ?? []
    if (!list.some((e) => e.epoch === event.epoch)) list.push({ epoch: event.epoch, firstWriteAt: at })
    out.set(site, list)
  }
  return out
}

/** Each replica's digest mismatches, once per entry (the agent may report one both as it sees it and as the guest fails). */
export function divergenceReports(events: readonly RecordedEvent[], workload: string): DivergenceReport[] {
  const out = new Map<string, DivergenceReport>()
  for (const { at, site, event } of events) {
    if (event.type !== 'divergence' || event.workload !== workload) continue
    const key = `${site}@${event.seq}`
    if (!out.has(key)) out.set(key, { at, site, seq: event.seq, expected: event.expected, got: event.got })
  }
  return [...out.values()]
}

export interface Failover {
  at: number
  site: string
  epoch: number
  tookMs: number
  detectionMs: number | undefined
}

/** Promotions after the first primary's: the failovers, with the agent's own measure of each. */
export function failovers(events: readonly RecordedEvent[], workload: string): Failover[] {
  const all = events
    .filter((e) => e.event.type === 'promotion' && e.event.workload === workload)
    .sort((a, b) => a.at - b.at)
  return all.slice(1).map(({ at, site, event }) => {
    const p = event as Extract<RecordedEvent['event'], { type: 'promotion' }>
    return { at, site, epoch: p.epoch, tookMs: p.tookMs, detectionMs: p.detectionMs }
  })
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Replicas that failed (their guest or their group state), as the agents reported them: `<site>: <reason>`. */
export function replicaFailures(events: readonly RecordedEvent[], workload: string): string[] {
  const out: string[] = []
  for (const { site, event } of events) {
    if (event.type === 'workload' && event.workload === workload && event.state === 'failed') {
      out.push(`${site}: ${event.reason ?? 'no reason given'}`)
    }
  }
  return out
}
