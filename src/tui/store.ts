/**
 * The TUI's data layer: polls the agent's status, peers and workloads (and the open workload's
 * detail), follows its event stream, runs actions, and keeps the result in a TuiState that React
 * reads through subscribe/getState (useSyncExternalStore). All updates go through reduce().
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { AgentUnreachableError } from '../errors/index.ts'
import type { ControlClient, ControlEvent } from './api.ts'
import { changesWorkloads } from './event-text.ts'
import { duration, shortId } from './format.ts'
import { type ActionKind, initialState, reduce, type TuiAction, type TuiState } from './state.ts'

export interface TuiStoreInit {
  client: ControlClient
  /** How often to poll while the agent answers (default 1 s). */
  pollMs?: number | undefined
  /** Backoff while it does not: first wait, doubled up to max (default 250 ms .. 5 s). */
  retry?: { initialMs?: number | undefined; maxMs?: number | undefined } | undefined
  /**
   * How long a failover or stop may take before the TUI gives up waiting (default 60 s): the agent may
   * first wait out an election, then for the new primary to go live, far longer than a poll.
   */
  actionTimeoutMs?: number | undefined
  /** Recent events to show on start (default 100). */
  backlog?: number | undefined
  /** Events kept in the feed (default 500). */
  maxEvents?: number | undefined
  now?: (() => number) | undefined
}

const DEFAULT_POLL_MS = 1_000
const DEFAULT_RETRY = { initialMs: 250, maxMs: 5_000 }
const DEFAULT_ACTION_TIMEOUT_MS = 60_000
/** Several events often come together (election, promotion): one poll after the burst is enough. */
const EVENT_POLL_DELAY_MS = 50

export class TuiStore {
  readonly #client: ControlClient
  readonly #pollMs: number
  readonly #retry: { initialMs: number; maxMs: number }
  readonly #backlog: number
  readonly #actionTimeoutMs: number
  readonly #now: () => number
  readonly #listeners = new Set<() => void>()
  #state: TuiState
  #stop = new AbortController()
  #running: Promise<unknown> | undefined
  /** Wakes the poll loop early (an event changed something, the user opened a view, …). */
  #wake: (() => void) | undefined
  /** refresh() was called while a poll was under way: poll again at once. */
  #pending = false
  #wakeTimer: NodeJS.Timeout | undefined
  #lastEventId: string | undefined

  constructor(init: TuiStoreInit) {
    this.#client = init.client
    this.#pollMs = init.pollMs ?? DEFAULT_POLL_MS
    this.#retry = {
      initialMs: init.retry?.initialMs ?? DEFAULT_RETRY.initialMs,
      maxMs: init.retry?.maxMs ?? DEFAULT_RETRY.maxMs,
    }
    this.#backlog = init.backlog ?? 100
    this.#actionTimeoutMs = init.actionTimeoutMs ?? DEFAULT_ACTION_TIMEOUT_MS
    this.#now = init.now ?? Date.now
    this.#state = initialState(this.#now(), init.maxEvents)
  }

  readonly getState = (): TuiState => this.#state

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Starts polling and following events until close() or the signal. */
  start(signal?: AbortSignal): void {
    if (this.#running) return
    if (signal) {
      if (signal.aborted) return
      signal.addEventListener('abort', () => this.#stop.abort(signal.reason), { once: true })
    }
    const s = this.#stop.signal
    this.#running = Promise.allSettled([this.#pollLoop(s), this.#eventLoop(s)])
  }

  /** Stops the loops and waits for them; calls in flight are abandoned. */
  async close(): Promise<void> {
    this.#stop.abort(new Error('the TUI closed'))
    clearTimeout(this.#wakeTimer)
    this.#wake?.()
    await this.#running
  }

  /** Polls now instead of at the next tick. */
  refresh(): void {
    this.#pending = true
    this.#wake?.()
  }

  openDetail(name: string): void {
    this.#dispatch({ type: 'detail-open', name })
    this.refresh()
  }

  closeDetail(): void {
    this.#dispatch({ type: 'detail-close' })
  }

  async explain(name: string): Promise<void> {
    this.#dispatch({ type: 'explain-open', name })
    try {
      const explanation = await this.#client.explain(name, { signal: this.#stop.signal })
      this.#dispatch({ type: 'explain-ok', explanation })
    } catch (err) {
      if (!this.#stop.signal.aborted)
        this.#dispatch({ type: 'explain-failed', name, error: describeError(err) })
    }
  }

  closeExplain(): void {
    this.#dispatch({ type: 'explain-close' })
  }

  /** Drills a failover of `name` to its most caught-up shadow; the outcome lands in state.action. */
  failover(name: string): Promise<void> {
    return this.#act('failover', name, async (signal) => {
      const r = await this.#client.failover(name, {}, { signal, timeoutMs: this.#actionTimeoutMs })
      return `failover of ${name}: ${shortId(r.from)} → ${shortId(r.to)} at epoch ${r.epoch}, took ${duration(r.tookMs)}`
    })
  }

  /** Stops `name` (its stored data is deleted, as `understudy stop` does by default). */
  stopWorkload(name: string): Promise<void> {
    return this.#act('stop', name, async (signal) => {
      const r = await this.#client.stop(name, {}, { signal, timeoutMs: this.#actionTimeoutMs })
      return `${name} is ${r.state}`
    })
  }

  async #act(kind: ActionKind, name: string, run: (signal: AbortSignal) => Promise<string>): Promise<void> {
    const outcome = { kind, name, reasons: [], at: this.#now() }
    this.#dispatch({ type: 'action', outcome: { ...outcome, phase: 'running', text: `${kind} of ${name}…` } })
    try {
      const text = await run(this.#stop.signal)
      this.#dispatch({ type: 'action', outcome: { ...outcome, phase: 'done', text, at: this.#now() } })
    } catch (err) {
      if (this.#stop.signal.aborted) return
      const reasons = (err as { reasons?: readonly string[] }).reasons ?? []
      this.#dispatch({
        type: 'action',
        outcome: {
          ...outcome,
          phase: 'failed',
          text: `${kind} of ${name} failed: ${describeError(err)}`,
          reasons,
        },
      })
    }
    this.refresh()
  }

  async #pollLoop(signal: AbortSignal): Promise<void> {
    let failures = 0
    while (!signal.aborted) {
      this.#pending = false
      const error = await this.#pollOnce(signal)
      if (signal.aborted) return
      let wait = this.#pollMs
      if (error === undefined) failures = 0
      else {
        failures++
        wait = Math.min(this.#retry.initialMs * 2 ** (failures - 1), this.#retry.maxMs)
        this.#dispatch({
          type: 'poll-failed',
          at: this.#now(),
          error: describeError(error),
          answered: !(error instanceof AgentUnreachableError),
          retryInMs: wait,
        })
      }
      await this.#sleep(wait, signal)
    }
  }

  /** One round of snapshots; returns the error that stopped it, if any. */
  async #pollOnce(signal: AbortSignal): Promise<unknown> {
    const options = { signal }
    try {
      const [status, peers, workloads] = await Promise.all([
        this.#client.status(options),
        this.#client.peers(options),
        this.#client.workloads(options),
      ])
      this.#dispatch({ type: 'poll-ok', at: this.#now(), status, peers, workloads })
    } catch (err) {
      return err
    }
    const name = this.#state.detail?.name
    if (name !== undefined) {
      try {
        const detail = await this.#client.workload(name, options)
        this.#dispatch({ type: 'detail-ok', detail })
      } catch (err) {
        if (!signal.aborted) this.#dispatch({ type: 'detail-failed', name, error: describeError(err) })
      }
    }
    return undefined
  }

  async #eventLoop(signal: AbortSignal): Promise<void> {
    let wait = this.#retry.initialMs
    while (!signal.aborted) {
      try {
        const items = this.#client.events({
          signal,
          retry: this.#retry,
          lastEventId: this.#lastEventId,
          backlog: this.#lastEventId === undefined ? this.#backlog : undefined,
        })
        for await (const item of items) {
          wait = this.#retry.initialMs
          if (item.type === 'event') this.#onEvent(item.event)
          else if (item.type === 'gap') this.refresh()
          else if (item.state === 'connected') {
            this.#dispatch({ type: 'stream-live' })
            this.refresh()
          } else this.#dispatch({ type: 'stream-down', error: describeError(item.error) })
        }
      } catch (err) {
        if (signal.aborted) return
        // A refusal (bad token, …) ends the client's stream: show it and try again later.
        this.#dispatch({ type: 'stream-down', error: describeError(err) })
      }
      await sleep(wait, undefined, { signal }).catch(() => {})
      wait = Math.min(wait * 2, this.#retry.maxMs)
    }
  }

  #onEvent(event: ControlEvent): void {
    this.#lastEventId = event.id
    this.#dispatch({ type: 'event', event })
    if (changesWorkloads(event) && this.#wakeTimer === undefined) {
      this.#wakeTimer = setTimeout(() => {
        this.#wakeTimer = undefined
        this.refresh()
      }, EVENT_POLL_DELAY_MS)
    }
  }

  /** Waits `ms`, or less when refresh() is (or was meanwhile) called or the signal aborts. */
  #sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#pending || signal.aborted) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        if (this.#wake === done) this.#wake = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      this.#wake = done
    })
  }

  #dispatch(action: TuiAction): void {
    const next = reduce(this.#state, action)
    if (next === this.#state) return
    this.#state = next
    for (const listener of this.#listeners) listener()
  }
}

/** An error as one line: its message, and its code when it has one. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' && code.startsWith('ERR_') ? `${err.message} [${code}]` : err.message
  }
  return String(err)
}
