/** The header (the agent and the connection), and the footer (keys, or the outcome of an action). */
import { ago, clock, duration, shortId, wrapText } from '../format.ts'
import type { UiState } from '../navigation.ts'
import type { TuiState } from '../state.ts'
import type { Line } from './lines.ts'

/** Data older than this gets its age shown (a poll is slow in coming). */
const STALE_AFTER_MS = 5_000
/** How long an action's outcome stays in the footer. */
const OUTCOME_SHOWN_MS = 15_000

export function headerLine(state: TuiState, where: string, width: number): Line {
  const s = state.status
  const text = s
    ? ` understudy ${shortId(s.peerId, 14)} ${s.site}${s.org ? `/${s.org}` : ''} v${s.version} · ` +
      `up ${duration(s.uptimeMs)} · ${s.peers} peer${s.peers === 1 ? '' : 's'} · ` +
      `${s.workloads} workload${s.workloads === 1 ? '' : 's'}`
    : ` understudy · agent at ${where}`
  return { key: 'header', text: text.padEnd(width - 1), style: 'focused-title' }
}

/** Rows the connection banner may take when the agent does not answer (its error can be long). */
const MAX_BANNER_ROWS = 4

/** Whether the agent answers (one line), or since when it does not and why (a few lines). */
export function connectionLines(state: TuiState, where: string, now: number, width: number): Line[] {
  const c = state.connection
  switch (c.state) {
    case 'connecting':
      return [{ key: 'conn', text: ` connecting to the agent at ${where}…`, style: 'dim' }]
    case 'unreachable': {
      const what = c.answered ? 'agent answers with an error' : 'agent unreachable'
      const retry = duration(Math.max(0, c.retryAt - now))
      const stale = state.lastPollAt === undefined ? '' : `, data from ${clock(state.lastPollAt)}`
      const text = `✖ ${what}, retrying in ${retry} (since ${clock(c.since)}, ${c.failures} tr${c.failures === 1 ? 'y' : 'ies'}${stale}): ${c.error}`
      return wrapText(text, width - 2, MAX_BANNER_ROWS).map((line, i) => ({
        key: `conn-${i}`,
        text: ` ${line}`,
        style: 'bad',
      }))
    }
    case 'connected': {
      // Said only when it matters, so a steady screen does not change every second.
      const old = state.lastPollAt !== undefined && now - state.lastPollAt > STALE_AFTER_MS
      const updated = old ? ` · last answer ${ago(state.lastPollAt!, now)}` : ''
      const stream =
        state.stream.state === 'live'
          ? ' · events live'
          : state.stream.state === 'down'
            ? ` · events reconnecting: ${state.stream.error}`
            : ' · events connecting…'
      return [
        {
          key: 'conn',
          text: ` ● connected to ${where}${updated}${stream}`,
          style: state.stream.state === 'down' ? 'warn' : 'good',
        },
      ]
    }
  }
}

const MAIN_KEYS = ' tab pane  ↑↓ move  enter open  f failover  s stop  e explain  ? help  q quit'
const DETAIL_KEYS = ' esc back  ↑↓ scroll events  f failover  s stop  e explain  ? help  q quit'
const EXPLAIN_KEYS = ' esc close  ↑↓ scroll  q quit'
const HELP_KEYS = ' any key closes the help  q quit'

/** Rows an action's outcome may take: a refusal's reasons are the point of showing it. */
const MAX_OUTCOME_ROWS = 3

/** The keys, or for a while after an action its outcome (wrapped, with policy's reasons). */
export function footerLines(state: TuiState, ui: UiState, now: number, width: number): Line[] {
  const a = state.action
  if (a && (a.phase === 'running' || now - a.at < OUTCOME_SHOWN_MS)) {
    const reasons = a.reasons.length > 0 ? ` Because: ${a.reasons.join('; ')}` : ''
    const style = a.phase === 'failed' ? 'bad' : a.phase === 'done' ? 'good' : 'notice'
    return wrapText(`${a.text}${reasons}`, width - 2, MAX_OUTCOME_ROWS).map((line, i) => ({
      key: `footer-${i}`,
      text: ` ${line}`,
      style,
    }))
  }
  const keys =
    ui.overlay?.type === 'help'
      ? HELP_KEYS
      : ui.overlay?.type === 'explain'
        ? EXPLAIN_KEYS
        : ui.view === 'detail'
          ? DETAIL_KEYS
          : MAIN_KEYS
  return [{ key: 'footer', text: keys, style: 'dim' }]
}
