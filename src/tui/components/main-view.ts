import { Box } from 'ink'
import { createElement as h, type ReactElement } from 'react'
import { allocateRows } from '../layout.ts'
import { currentPeer, currentWorkload, PANES, type UiState } from '../navigation.ts'
import type { TuiState } from '../state.ts'
import { Lines } from './lines.ts'
import { eventsSection, peersSection, type SectionView, workloadsSection } from './sections.ts'

export interface ViewProps {
  state: TuiState
  ui: UiState
  width: number
  height: number
  now: number
}

/**
 * Workloads, peers and the event feed stacked; the focused pane gets the most room. Only the rows in
 * view are formatted, so a large mesh costs no more per update than the screen shows.
 */
export function MainView({ state, ui, width, height, now }: ViewProps): ReactElement {
  const { workloads, peers, events } = state
  const stale = state.connection.state === 'unreachable' && state.lastPollAt !== undefined
  const rows = allocateRows(
    height - PANES.length,
    [Math.max(1, workloads.length) + 1, Math.max(1, peers.length) + 1, Math.max(1, events.length)],
    PANES.indexOf(ui.focus),
    2,
    2,
  )
  const view = (i: number): SectionView => ({ width, rows: rows[i]!, focused: ui.focus === PANES[i], stale })
  const names = workloads.map((w) => w.name)
  const ids = peers.map((p) => p.peerId)
  return h(
    Box,
    { flexDirection: 'column', height, flexShrink: 0 },
    h(Lines, {
      lines: workloadsSection(workloads, currentWorkload(ui, names), view(0), now),
      height: rows[0]! + 1,
    }),
    h(Lines, { lines: peersSection(peers, currentPeer(ui, ids), view(1)), height: rows[1]! + 1 }),
    h(Lines, { lines: eventsSection(events, ui.selectedEvent, view(2)), height: rows[2]! + 1 }),
  )
}
