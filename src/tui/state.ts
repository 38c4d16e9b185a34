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

/**
 * A change of primary the TUI saw between two polls. An agent reports elections and promotions only
 * where they happen, so the agent this TUI watches may say nothing of a failover elsewhere in the group.
 */
export interface ObservedPrimary {
  type: 'observed-primary'
  id: string
  time: number
  workload: string
  peerId: string
  epoch: number
  previous: string
}

/** A line of the feed: an event from the agent, or a change the polls revealed. */
export type FeedItem = ControlEvent | ObservedPrimary

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
  events: readonly FeedItem[]
  maxEvents: number
  /** The newest primary known per workload (from polls and promotions), to notice a change. */
  primaries: ReadonlyMap<string, { peerId: string; epoch: number }>
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
    primaries: new Map(),
    detail: undefined,
    explain: undefined,
    action: undefined,
  }
}

export function reduce(state: TuiState, action: TuiAction): TuiState {
  switch (action.type) {
    case 'poll-ok': {
      const { primaries, observed } = observePrimaries(state, action.workloads, action.at)
      const next: TuiState = {
        ...state,
        connection:
          state.connection.state === 'connected'
            ? state.connection
            : { state: 'connected', since: action.at },
        lastPollAt: action.at,
        status: same(state.status, action.status) ? state.status : action.status,
        peers: share(state.peers, action.peers, (p) => p.peerId),
        workloads: share(state.workloads, action.workloads, (w) => w.name),
        primaries,
      }
      return observed.reduce(appendEvent, next)
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
      return action.event.type === 'promotion'
        ? promoted(state, action.event)
        : appendEvent(state, action.event)
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

/**
 * The primaries of this poll, and a feed line for each workload whose primary moved to another peer in
 * a newer epoch since the last poll or promotion (not on the first poll: that change is not news).
 */
function observePrimaries(
  state: TuiState,
  workloads: readonly WorkloadSummary[],
  at: number,
): { primaries: TuiState['primaries']; observed: ObservedPrimary[] } {
  const primaries = new Map<string, { peerId: string; epoch: number }>()
  const observed: ObservedPrimary[] = []
  for (const w of workloads) {
    const known = state.primaries.get(w.name)
    // During an election there is no primary: the last one stays known.
    if (w.primary === undefined || (known !== undefined && w.epoch <= known.epoch)) {
      if (known !== undefined) primaries.set(w.name, known)
      continue
    }
    primaries.set(w.name, { peerId: w.primary, epoch: w.epoch })
    if (known !== undefined && known.peerId !== w.primary && state.lastPollAt !== undefined) {
      observed.push({
        type: 'observed-primary',
        id: `observed:${w.name}:${w.epoch}`,
        time: at,
        workload: w.name,
        peerId: w.primary,
        epoch: w.epoch,
        previous: known.peerId,
      })
    }
  }
  return { primaries, observed }
}

/** The agent's own promotion replaces what a poll may have noticed first, and makes it known. */
function promoted(state: TuiState, event: Extract<ControlEvent, { type: 'promotion' }>): TuiState {
  const known = state.primaries.get(event.workload)
  const primaries =
    known === undefined || event.epoch > known.epoch
      ? new Map(state.primaries).set(event.workload, { peerId: event.peerId, epoch: event.epoch })
      : state.primaries
  const events = state.events.filter(
    (e) => !(e.type === 'observed-primary' && e.workload === event.workload && e.epoch === event.epoch),
  )
  return appendEvent({ ...state, primaries, events }, event)
}

/** Adds an event to the feed once (a resumed stream may repeat one), dropping the oldest past the cap. */
function appendEvent(state: TuiState, event: FeedItem): TuiState {
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
