/**
 * Where the user is (pane, selection, view, overlay) and how each command moves them: a pure
 * function from (state, command, what is on screen) to the next state and at most one effect for
 * the store to carry out.
 */
import type { UiCommand } from './keys.ts'

export type Pane = 'workloads' | 'peers' | 'events'

export const PANES: readonly Pane[] = ['workloads', 'peers', 'events']

export type Overlay =
  | { type: 'help' }
  | { type: 'confirm'; action: 'failover' | 'stop'; workload: string }
  | { type: 'explain'; workload: string; scroll: number }

export interface UiState {
  view: 'main' | 'detail'
  focus: Pane
  /** Selections by key, so a row stays selected when others come and go. */
  selectedWorkload: string | undefined
  selectedPeer: string | undefined
  /** Index into the feed counted from the newest (0). */
  selectedEvent: number
  /** Scroll of the detail view's event list. */
  detailScroll: number
  overlay: Overlay | undefined
}

export type Effect =
  | { type: 'open-detail'; workload: string }
  | { type: 'close-detail' }
  | { type: 'explain'; workload: string }
  | { type: 'close-explain' }
  | { type: 'failover'; workload: string }
  | { type: 'stop'; workload: string }
  | { type: 'quit' }

/** What is on screen, as far as navigation needs it. */
export interface UiContext {
  workloads: readonly string[]
  peers: readonly string[]
  events: number
  /** Rows the open explain overlay or detail view can scroll through. */
  scrollable: number
  /** Rows a page-up/down moves. */
  page: number
}

export interface Step {
  ui: UiState
  effect?: Effect | undefined
}

export const initialUi: UiState = {
  view: 'main',
  focus: 'workloads',
  selectedWorkload: undefined,
  selectedPeer: undefined,
  selectedEvent: 0,
  detailScroll: 0,
  overlay: undefined,
}

/** The workload the user is looking at: the selected one if still there, else the first. */
export function currentWorkload(ui: UiState, workloads: readonly string[]): string | undefined {
  if (ui.selectedWorkload !== undefined && workloads.includes(ui.selectedWorkload)) return ui.selectedWorkload
  return workloads[0]
}

export function currentPeer(ui: UiState, peers: readonly string[]): string | undefined {
  if (ui.selectedPeer !== undefined && peers.includes(ui.selectedPeer)) return ui.selectedPeer
  return peers[0]
}

export function navigate(ui: UiState, command: UiCommand, ctx: UiContext): Step {
  if (command === 'interrupt') return { ui, effect: { type: 'quit' } }
  const overlay = ui.overlay
  if (overlay?.type === 'help') {
    return command === 'quit' ? { ui, effect: { type: 'quit' } } : { ui: { ...ui, overlay: undefined } }
  }
  if (overlay?.type === 'confirm') {
    // Only an explicit yes acts; every other key backs out.
    if (command === 'yes') {
      return {
        ui: { ...ui, overlay: undefined },
        effect: { type: overlay.action, workload: overlay.workload },
      }
    }
    if (command === 'no' || command === 'back' || command === 'quit')
      return { ui: { ...ui, overlay: undefined } }
    return { ui }
  }
  if (overlay?.type === 'explain') {
    if (command === 'quit') return { ui, effect: { type: 'quit' } }
    const scroll = moveBy(overlay.scroll, command, ctx.scrollable - 1, ctx.page)
    if (scroll !== undefined) return { ui: { ...ui, overlay: { ...overlay, scroll } } }
    if (command === 'back' || command === 'explain' || command === 'open' || command === 'no') {
      return { ui: { ...ui, overlay: undefined }, effect: { type: 'close-explain' } }
    }
    return { ui }
  }

  const workload = ui.view === 'detail' ? ui.selectedWorkload : currentWorkload(ui, ctx.workloads)
  switch (command) {
    case 'quit':
      return { ui, effect: { type: 'quit' } }
    case 'help':
      return { ui: { ...ui, overlay: { type: 'help' } } }
    case 'failover':
    case 'stop':
      if (workload === undefined) return { ui }
      return {
        ui: { ...ui, selectedWorkload: workload, overlay: { type: 'confirm', action: command, workload } },
      }
    case 'explain':
      if (workload === undefined) return { ui }
      return {
        ui: { ...ui, selectedWorkload: workload, overlay: { type: 'explain', workload, scroll: 0 } },
        effect: { type: 'explain', workload },
      }
  }

  if (ui.view === 'detail') {
    if (command === 'back')
      return { ui: { ...ui, view: 'main', detailScroll: 0 }, effect: { type: 'close-detail' } }
    const scroll = moveBy(ui.detailScroll, command, ctx.scrollable - 1, ctx.page)
    return scroll === undefined ? { ui } : { ui: { ...ui, detailScroll: scroll } }
  }

  switch (command) {
    case 'next-pane':
    case 'prev-pane': {
      const i = PANES.indexOf(ui.focus) + (command === 'next-pane' ? 1 : PANES.length - 1)
      return { ui: { ...ui, focus: PANES[i % PANES.length]! } }
    }
    case 'open':
      if (ui.focus !== 'workloads' || workload === undefined) return { ui }
      return {
        ui: { ...ui, view: 'detail', selectedWorkload: workload, detailScroll: 0 },
        effect: { type: 'open-detail', workload },
      }
  }
  if (ui.focus === 'workloads') {
    const names = ctx.workloads
    const i = moveBy(Math.max(0, names.indexOf(workload ?? '')), command, names.length - 1, ctx.page)
    return i === undefined || names.length === 0 ? { ui } : { ui: { ...ui, selectedWorkload: names[i] } }
  }
  if (ui.focus === 'peers') {
    const ids = ctx.peers
    const peer = currentPeer(ui, ids)
    const i = moveBy(Math.max(0, ids.indexOf(peer ?? '')), command, ids.length - 1, ctx.page)
    return i === undefined || ids.length === 0 ? { ui } : { ui: { ...ui, selectedPeer: ids[i] } }
  }
  const i = moveBy(Math.min(ui.selectedEvent, Math.max(0, ctx.events - 1)), command, ctx.events - 1, ctx.page)
  return i === undefined ? { ui } : { ui: { ...ui, selectedEvent: i } }
}

/** The index a movement command leads to within 0..last, or undefined if it is not a movement. */
function moveBy(index: number, command: UiCommand, last: number, page: number): number | undefined {
  const clamp = (i: number) => Math.max(0, Math.min(i, Math.max(0, last)))
  switch (command) {
    case 'up':
      return clamp(index - 1)
    case 'down':
      return clamp(index + 1)
    case 'page-up':
      return clamp(index - Math.max(1, page))
    case 'page-down':
      return clamp(index + Math.max(1, page))
    case 'top':
      return 0
    case 'bottom':
      return clamp(last)
    default:
      return undefined
  }
}
