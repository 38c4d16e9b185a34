/**
 * What the TUI knows about the agent, and the pure reducer that updates it from poll results, the
 * event stream and action outcomes. No I/O here: the store (store.ts) does that and dispatches.
 */
import type {
  AgentStatus,
  ControlEvent,
  Explanation,
  PeerInfo,
  WorkloadDetail,
  WorkloadSummary,
} from './api.ts'

/** The control API as the polls see it. */
export type Connection =
  | { state: 'connecting'; since: number }
  | { state: 'connected'; since: number }
  | {
      state: 'unreachable'
      since: number
      error: string
      /** The agent answered, but with an error (as opposed to not answering at all). */
      answered: boolean
      retryAt: number
      failures: number
    }

/** The live event stream, which reconnects by itself. */
export type StreamStatus = { state: 'connecting' } | { state: 'live' } | { state: 'down'; error: string }

/** Something loaded on demand for one workload. */
export interface Loadable<T> {
  name: string
  data: T | undefined
  error: string | undefined
}

export type ActionKind = 'failover' | 'stop'

export interface ActionOutcome {
  kind: ActionKind
  name: string
  phase: 'running' | 'done' | 'failed'
  /** What happened, in words. */
  text: string
  reasons: readonly string[]
  at: number
}

export interface TuiState {
  connection: Connection
  stream: StreamStatus
  lastPollAt: number | undefined
  status: AgentStatus | undefined
  peers: readonly PeerInfo[]
  workloads: readonly WorkloadSummary[]
  /** The live feed, oldest first, at most `maxEvents`. */
  events: readonly ControlEvent[]
  maxEvents: number
  detail: Loadable<WorkloadDetail> | undefined
  explain: Loadable<Explanation> | undefined
  action: ActionOutcome | undefined
}

export type TuiAction =
  | {
      type: 'poll-ok'
      at: number
      status: AgentStatus
      peers: PeerInfo[]
      workloads: WorkloadSummary[]
    }
  | { type: 'poll-failed'; at: number; error: string; answered: boolean; retryInMs: number }
  | { type: 'stream-live' }
  | { type: 'stream-down'; error: string }
  | { type: 'event'; event: ControlEvent }
  | { type: 'detail-open'; name: string }
  | { type: 'detail-close' }
  | { type: 'detail-ok'; detail: WorkloadDetail }
  | { type: 'detail-failed'; name: string; error: string }
  | { type: 'explain-open'; name: string }
  | { type: 'explain-close' }
  | { type: 'explain-ok'; explanation: Explanation }
  | { type: 'explain-failed'; name: string; error: string }
  | { type: 'action'; outcome: ActionOutcome }

export const DEFAULT_MAX_EVENTS = 500

export function initialState(now: number, maxEvents = DEFAULT_MAX_EVENTS): TuiState {
  return {
    connection: { state: 'connecting', since: now },
    stream: { state: 'connecting' },
    lastPollAt: undefined,
    status: undefined,
    peers: [],
    workloads: [],
    events: [],
    maxEvents,
    detail: undefined,
    explain: undefined,
    action: undefined,
  }
}

export function reduce(state: TuiState, action: TuiAction): TuiState {
  switch (action.type) {
    case 'poll-ok':
      return {
        ...state,
        connection:
          state.connection.state === 'connected'
            ? state.connection
            : { state: 'connected', since: action.at },
        lastPollAt: action.at,
        status: same(state.status, action.status) ? state.status : action.status,
        peers: share(state.peers, action.peers, (p) => p.peerId),
        workloads: share(state.workloads, action.workloads, (w) => w.name),
      }
    case 'poll-failed': {
      const prev = state.connection
      return {
        ...state,
        connection: {
          state: 'unreachable',
          since: prev.state === 'unreachable' ? prev.since : action.at,
          error: action.error,
          answered: action.answered,
          retryAt: action.at + action.retryInMs,
          failures: prev.state === 'unreachable' ? prev.failures + 1 : 1,
        },
      }
    }
    case 'stream-live':
      return state.stream.state === 'live' ? state : { ...state, stream: { state: 'live' } }
    case 'stream-down':
      return { ...state, stream: { state: 'down', error: action.error } }
    case 'event':
      return appendEvent(state, action.event)
    case 'detail-open':
      return state.detail?.name === action.name
        ? state
        : { ...state, detail: { name: action.name, data: undefined, error: undefined } }
    case 'detail-close':
      return state.detail === undefined ? state : { ...state, detail: undefined }
    case 'detail-ok':
      if (state.detail?.name !== action.detail.name) return state
      if (state.detail.data && same(state.detail.data, action.detail) && !state.detail.error) return state
      return { ...state, detail: { name: action.detail.name, data: action.detail, error: undefined } }
    case 'detail-failed':
      if (state.detail?.name !== action.name) return state
      return { ...state, detail: { ...state.detail, error: action.error } }
    case 'explain-open':
      return { ...state, explain: { name: action.name, data: undefined, error: undefined } }
    case 'explain-close':
      return state.explain === undefined ? state : { ...state, explain: undefined }
    case 'explain-ok':
      if (state.explain?.name !== action.explanation.name) return state
      return {
        ...state,
        explain: { name: action.explanation.name, data: action.explanation, error: undefined },
      }
    case 'explain-failed':
      if (state.explain?.name !== action.name) return state
      return { ...state, explain: { ...state.explain, error: action.error } }
    case 'action':
      return { ...state, action: action.outcome }
  }
}

/** Adds an event to the feed once (a resumed stream may repeat one), dropping the oldest past the cap. */
function appendEvent(state: TuiState, event: ControlEvent): TuiState {
  const events = state.events
  for (let i = events.length - 1; i >= 0 && i >= events.length - 64; i--) {
    if (events[i]!.id === event.id) return state
  }
  const next =
    events.length >= state.maxEvents ? events.slice(events.length - state.maxEvents + 1) : [...events]
  next.push(event)
  return { ...state, events: next }
}

/**
 * The new list, reusing the previous objects that did not change (and the previous list when none
 * did), so components memoized on them skip the work.
 */
export function share<T>(prev: readonly T[], next: readonly T[], key: (item: T) => string): readonly T[] {
  const old = new Map(prev.map((item) => [key(item), item]))
  let changed = prev.length !== next.length
  const out = next.map((item, i) => {
    const before = old.get(key(item))
    if (before !== undefined && same(before, item)) {
      if (prev[i] !== before) changed = true
      return before
    }
    changed = true
    return item
  })
  return changed ? out : prev
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}
