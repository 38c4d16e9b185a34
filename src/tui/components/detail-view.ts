/**
 * One workload in full: its replicas (role, epoch, committed, lag in entries and ms, digest
 * agreement), its last failover, its data policy and its recent events.
 */
import { Box } from 'ink'
import { createElement as h, type ReactElement } from 'react'
import type { WorkloadDetail, WorkloadSummary } from '../api.ts'
import { clock, duration, shortId, truncate } from '../format.ts'
import { allocateRows } from '../layout.ts'
import type { FeedItem } from '../state.ts'
import type { Line } from './lines.ts'
import { Lines } from './lines.ts'
import type { ViewProps } from './main-view.ts'
import { eventLine, table, titleLine } from './sections.ts'
import { replicaColumns } from './tables.ts'

/** Lines above the three lists: summary, image, and the titles of replicas, policy, events, failover. */
const FIXED_LINES = 6

export interface DetailLayout {
  replicas: number
  policy: number
  events: number
}

/** The rows of the replicas table, policy lines and events list in a detail view `height` high. */
export function detailLayout(
  detail: WorkloadSummary,
  policyLines: number,
  events: number,
  height: number,
): DetailLayout {
  const [replicas, policy, ev] = allocateRows(
    height - FIXED_LINES,
    [detail.replicas.length + 1, Math.max(1, policyLines), Math.max(1, events)],
    0,
    2,
    1,
  )
  return { replicas: replicas!, policy: policy!, events: ev! }
}

/**
 * The open workload's recent events, oldest first: the agent's list once loaded (with the failovers the
 * polls noticed, which the agent may not have seen itself), the feed's until then.
 */
export function detailEvents(state: ViewProps['state']): readonly FeedItem[] {
  const name = state.detail?.name
  const loaded = state.detail?.data?.recentEvents
  const mine = state.events.filter((e) => 'workload' in e && e.workload === name)
  if (!loaded) return mine
  const promoted = new Set(loaded.flatMap((e) => (e.type === 'promotion' ? [e.epoch] : [])))
  const observed = mine.filter((e) => e.type === 'observed-primary' && !promoted.has(e.epoch))
  if (observed.length === 0) return loaded
  return [...loaded, ...observed].sort((a, b) => a.time - b.time)
}

export function DetailView({ state, ui, width, height }: ViewProps): ReactElement {
  const name = ui.selectedWorkload ?? ''
  const detail: WorkloadDetail | undefined = state.detail?.name === name ? state.detail.data : undefined
  const summary = detail ?? state.workloads.find((w) => w.name === name)
  const error = state.detail?.name === name ? state.detail.error : undefined
  if (!summary) {
    const text = error ? `${name}: ${error}` : `loading ${name}…`
    return h(Lines, {
      lines: [titleLine('d-title', name, true), { key: 'd-wait', text, style: error ? 'bad' : 'dim' }],
      height,
    })
  }
  const events = [...detailEvents(state)].reverse()
  const policy = detail?.dataPolicy ?? []
  const layout = detailLayout(summary, policy.length, events.length, height)

  const head: Line[] = [
    titleLine(
      'd-title',
      `${summary.name} · ${summary.state} · epoch ${summary.epoch} · committed ${summary.committedSeq} · up ${duration(summary.uptimeMs)}`,
      true,
    ),
    {
      key: 'd-meta',
      text: truncate(
        ` owner ${summary.owner} · ${summary.replicas.length}/${summary.replicasWanted} replicas` +
          (detail
            ? ` · image ${detail.image}${detail.args.length ? ` · args ${detail.args.join(' ')}` : ''}`
            : ''),
        width - 1,
      ),
      style: 'dim',
    },
    ...(error ? [{ key: 'd-error', text: ` ${error}`, style: 'bad' as const }] : []),
  ]
  const replicas: Line[] = [
    { key: 'r-title', text: ' Replicas', style: 'title' },
    ...table(
      'r',
      replicaColumns(),
      summary.replicas,
      (r) => r.peerId,
      undefined,
      { width, rows: layout.replicas, focused: false, stale: false },
      (r) =>
        r.digest === 'diverged' ? 'bad' : !r.reachable ? 'warn' : r.role === 'primary' ? 'good' : undefined,
    ),
  ]
  const f = summary.lastFailover
  const failover: Line = {
    key: 'd-failover',
    text: f
      ? ` Last failover ${clock(f.at)} (${f.reason}): ${f.from ? `${shortId(f.from)} → ` : 'to '}${shortId(f.to)} at epoch ${f.epoch}, took ${duration(f.tookMs)}`
      : ' Last failover: none',
    style: f ? 'notice' : 'dim',
  }
  const policyLines: Line[] = [
    { key: 'dp-title', text: ' Data policy', style: 'title' },
    ...(detail
      ? policy.length > 0
        ? policy.map((text, i) => ({ key: `dp-${i}`, text: `  ${text}` }))
        : [{ key: 'dp-none', text: '  no data policy: any peer may hold the data', style: 'dim' as const }]
      : [{ key: 'dp-wait', text: '  loading…', style: 'dim' as const }]),
  ]
  const start = Math.min(ui.detailScroll, Math.max(0, events.length - layout.events))
  const eventLines: Line[] = [
    { key: 'de-title', text: ` Recent events (${events.length})`, style: 'title' },
    ...(events.length === 0
      ? [{ key: 'de-none', text: '  none yet', style: 'dim' as const }]
      : events.slice(start, start + layout.events).map((e) => eventLine(e, width))),
  ]
  // The error line, when there is one, is taken from the events list's rows.
  return h(
    Box,
    { flexDirection: 'column', height, flexShrink: 0 },
    h(Lines, { lines: head, height: head.length }),
    h(Lines, { lines: replicas, height: layout.replicas + 1 }),
    h(Lines, { lines: [failover], height: 1 }),
    h(Lines, { lines: policyLines, height: layout.policy + 1 }),
    h(Lines, { lines: eventLines, height: Math.max(0, layout.events + 1 - (error ? 1 : 0)) }),
  )
}
