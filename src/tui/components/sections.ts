/**
 * The main view's three panes as lines: a title, a column header, and a window of rows that keeps
 * the selection visible. Pure functions of the data, the selection and the space given.
 */
import type { PeerInfo, WorkloadSummary } from '../api.ts'
import { describeEvent } from '../event-text.ts'
import { clock, fitWidth } from '../format.ts'
import { scrollWindow } from '../layout.ts'
import type { FeedItem } from '../state.ts'
import { type Column, fitColumns, headerLine, rowLine } from '../table.ts'
import { type Line, marker } from './lines.ts'
import { peerColumns, workloadColumns } from './tables.ts'

export interface SectionView {
  /** Width of the screen. */
  width: number
  /** Rows under the title line (a table's column header is one of them). */
  rows: number
  focused: boolean
  /** The data is from before the agent stopped answering. */
  stale: boolean
}

/** A pane's title; the focused one is marked (▸) as well as drawn in inverse, for monochrome terminals. */
export function titleLine(key: string, text: string, focused: boolean, stale = false): Line {
  const note = stale ? ' (stale: the agent is not answering)' : ''
  return { key, text: `${focused ? '▸' : ' '} ${text}${note} `, style: focused ? 'focused-title' : 'title' }
}

export function workloadsSection(
  workloads: readonly WorkloadSummary[],
  selected: string | undefined,
  view: SectionView,
  now: number,
): Line[] {
  const title = titleLine('w-title', `Workloads (${workloads.length})`, view.focused, view.stale)
  if (workloads.length === 0) {
    return [title, { key: 'w-empty', text: '  no workloads: start one with `understudy run`', style: 'dim' }]
  }
  return [
    title,
    ...table(
      'w',
      workloadColumns(now),
      workloads,
      (w) => w.name,
      selected,
      view,
      (w) =>
        w.state === 'failed' || w.replicas.some((r) => r.digest === 'diverged')
          ? 'bad'
          : w.state === 'degraded' || w.state === 'electing'
            ? 'warn'
            : undefined,
    ),
  ]
}

export function peersSection(
  peers: readonly PeerInfo[],
  selected: string | undefined,
  view: SectionView,
): Line[] {
  const title = titleLine('p-title', `Peers (${peers.length})`, view.focused, view.stale)
  if (peers.length === 0) return [title, { key: 'p-empty', text: '  no peers known yet', style: 'dim' }]
  return [
    title,
    ...table(
      'p',
      peerColumns(),
      peers,
      (p) => p.peerId,
      selected,
      view,
      (p) => (p.state === 'unreachable' ? 'warn' : p.self ? 'strong' : undefined),
    ),
  ]
}

/** The live feed, newest first; `selected` counts from the newest. */
export function eventsSection(events: readonly FeedItem[], selected: number, view: SectionView): Line[] {
  const title = titleLine('e-title', `Events (${events.length})`, view.focused)
  if (events.length === 0) return [title, { key: 'e-empty', text: '  no events yet', style: 'dim' }]
  const sel = Math.min(selected, events.length - 1)
  const start = scrollWindow(events.length, view.rows, sel)
  const lines: Line[] = [title]
  for (let i = start; i < Math.min(events.length, start + view.rows); i++) {
    const e = events[events.length - 1 - i]!
    lines.push(eventLine(e, view.width, i === sel && view.focused ? 'focused' : undefined))
  }
  return lines
}

export function eventLine(e: FeedItem, width: number, selected?: 'focused' | 'unfocused'): Line {
  const d = describeEvent(e)
  return {
    key: `e-${e.id}`,
    text: fitWidth(
      `${marker(selected !== undefined)}${clock(e.time)} ${fitWidth(d.kind, 9)} ${d.text}`,
      width - 1,
    ),
    style: d.tone,
    selected,
  }
}

/** A table's header and the window of its rows around the selection. */
export function table<R>(
  prefix: string,
  columns: readonly Column<R>[],
  rows: readonly R[],
  key: (row: R) => string,
  selected: string | undefined,
  view: SectionView,
  style: (row: R) => Line['style'],
): Line[] {
  const fitted = fitColumns(columns, view.width - 2)
  const index = Math.max(
    0,
    rows.findIndex((r) => key(r) === selected),
  )
  const start = scrollWindow(rows.length, view.rows - 1, index)
  const lines: Line[] = [{ key: `${prefix}-header`, text: ` ${headerLine(fitted)}`, style: 'header' }]
  for (let i = start; i < Math.min(rows.length, start + view.rows - 1); i++) {
    const row = rows[i]!
    const isSelected = i === index && selected !== undefined
    lines.push({
      key: `${prefix}-${key(row)}`,
      text: `${marker(isSelected)}${rowLine(fitted, row)}`,
      style: view.stale ? 'dim' : style(row),
      selected: isSelected ? (view.focused ? 'focused' : 'unfocused') : undefined,
    })
  }
  return lines
}
