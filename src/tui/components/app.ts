/**
 * The root component: header, connection line, the main or detail view (or help / explain), a
 * confirmation dialog when one is open, and the footer. Keys go through keyCommand and navigate;
 * the effects they ask for are carried out by the store.
 */
import { Box, useApp, useInput } from 'ink'
import {
  createElement as h,
  type ReactElement,
  useEffect,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react'
import { keyCommand } from '../keys.ts'
import { type Effect, initialUi, navigate, type UiContext, type UiState } from '../navigation.ts'
import type { TuiState } from '../state.ts'
import type { TuiStore } from '../store.ts'
import { connectionLines, footerLines, headerLine } from './chrome.ts'
import { CONFIRM_ROWS, Confirm, confirmText } from './confirm.ts'
import { DetailView, detailEvents, detailLayout } from './detail-view.ts'
import { ExplainView, explainLines } from './explain-view.ts'
import { HelpView } from './help-view.ts'
import { Lines } from './lines.ts'
import { MainView } from './main-view.ts'
import { useTerminalSize } from './use-terminal-size.ts'

export interface AppProps {
  store: TuiStore
  /** Where the agent is (its socket or host:port), for the header while nothing is known yet. */
  where: string
  /** Called when the user quits, before the app unmounts. */
  onQuit?: (() => void) | undefined
  now?: (() => number) | undefined
}

/** Relative times ("updated 2s ago", "retrying in 3s") move even when no data changes. */
const CLOCK_TICK_MS = 1_000
/** Below this many rows the layout stops shrinking (and the terminal cuts it). */
const MIN_HEIGHT = 12

export function App({ store, where, onQuit, now = Date.now }: AppProps): ReactElement {
  const state = useSyncExternalStore(store.subscribe, store.getState)
  const { columns, rows } = useTerminalSize()
  const { exit } = useApp()
  const [ui, setUi] = useState<UiState>(initialUi)
  const uiRef = useRef(ui)
  const [, setTick] = useState(0)
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), CLOCK_TICK_MS)
    return () => clearInterval(timer)
  }, [])

  // One row fewer than the terminal: Ink clears the whole screen on every update of a full-height frame.
  const height = Math.max(MIN_HEIGHT, rows - 1)
  const confirm = ui.overlay?.type === 'confirm' ? ui.overlay : undefined
  const t = now()
  const top = [headerLine(state, where, columns), ...connectionLines(state, where, t, columns)]
  const bottom = footerLines(state, ui, t, columns)
  const body = Math.max(3, height - top.length - bottom.length - (confirm ? CONFIRM_ROWS : 0))

  const run = (effect: Effect) => {
    switch (effect.type) {
      case 'open-detail':
        return store.openDetail(effect.workload)
      case 'close-detail':
        return store.closeDetail()
      case 'explain':
        return void store.explain(effect.workload)
      case 'close-explain':
        return store.closeExplain()
      case 'failover':
        return void store.failover(effect.workload)
      case 'stop':
        return void store.stopWorkload(effect.workload)
      case 'quit':
        onQuit?.()
        return exit()
    }
  }

  useInput((input, key) => {
    const command = keyCommand(input, key)
    if (command === undefined) return
    const step = navigate(uiRef.current, command, uiContext(store.getState(), uiRef.current, body))
    if (step.ui !== uiRef.current) {
      uiRef.current = step.ui
      setUi(step.ui)
    }
    if (step.effect) run(step.effect)
  })

  const view = { state, ui, width: columns, height: body, now: t }
  let main: ReactElement
  if (ui.overlay?.type === 'help') main = h(HelpView, { height: body })
  else if (ui.overlay?.type === 'explain') {
    main = h(ExplainView, {
      explain: state.explain,
      name: ui.overlay.workload,
      scroll: ui.overlay.scroll,
      height: body,
    })
  } else if (ui.view === 'detail') main = h(DetailView, view)
  else main = h(MainView, view)

  return h(
    Box,
    { flexDirection: 'column', width: columns, height, overflow: 'hidden' },
    h(Lines, { lines: top, height: top.length }),
    main,
    confirm
      ? h(Confirm, {
          text: confirmText(
            confirm.action,
            state.workloads.find((w) => w.name === confirm.workload),
            confirm.workload,
          ),
          width: columns,
        })
      : null,
    h(Lines, { lines: bottom, height: bottom.length }),
  )
}

/** What navigation needs to know about the screen. */
function uiContext(state: TuiState, ui: UiState, body: number): UiContext {
  let scrollable = 0
  if (ui.overlay?.type === 'explain') {
    scrollable = explainLines(state.explain, ui.overlay.workload).length - (body - 1) + 1
  } else if (ui.view === 'detail') {
    const summary = state.detail?.data ?? state.workloads.find((w) => w.name === ui.selectedWorkload)
    const events = detailEvents(state).length
    if (summary) {
      const layout = detailLayout(summary, state.detail?.data?.dataPolicy.length ?? 0, events, body)
      scrollable = events - layout.events + 1
    }
  }
  return {
    workloads: state.workloads.map((w) => w.name),
    peers: state.peers.map((p) => p.peerId),
    events: state.events.length,
    scrollable: Math.max(1, scrollable),
    page: Math.max(1, body - 4),
  }
}
