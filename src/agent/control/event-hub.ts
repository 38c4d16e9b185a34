import { randomBytes } from 'node:crypto'
import type { ControlEvent, ControlEventBody, GapEvent } from '../../control/api-types.ts'

export interface EventHubInit {
  /** Events kept for resuming clients (default 1024). */
  capacity?: number | undefined
  /** Identifies this run of the agent in event ids (default: random). */
  bootId?: string | undefined
  now?: (() => number) | undefined
}

export type EventListener = (event: ControlEvent) => void

/** What a (re)connecting client gets before live events. */
export interface Backlog {
  events: ControlEvent[]
  gap: GapEvent['reason'] | undefined
}

/**
 * Where the agent publishes control events. It numbers them (`<bootId>-<n>`) and keeps the last
 * `capacity` in a ring, so a client that lost its stream resumes from its Last-Event-ID without a
 * hole, or learns that it has one (the agent restarted, or it was away too long).
 */
export class EventHub {
  readonly bootId: string
  readonly capacity: number
  readonly #now: () => number
  readonly #ring: (ControlEvent | undefined)[]
  #next = 1
  readonly #listeners = new Set<EventListener>()

  constructor(init: EventHubInit = {}) {
    this.bootId = init.bootId ?? randomBytes(4).toString('hex')
    if (this.bootId.includes('-')) throw new RangeError('an event hub boot id must not contain "-"')
    this.capacity = init.capacity ?? 1024
    if (!Number.isInteger(this.capacity) || this.capacity < 1)
      throw new RangeError('capacity must be a positive integer')
    this.#now = init.now ?? Date.now
    this.#ring = new Array(this.capacity)
  }

  /** Numbers, stores and delivers an event; listeners run synchronously, in subscription order. */
  publish(body: ControlEventBody): ControlEvent {
    const n = this.#next++
    const event: ControlEvent = { ...body, id: `${this.bootId}-${n}`, time: this.#now() }
    this.#ring[n % this.capacity] = event
    for (const listener of this.#listeners) listener(event)
    return event
  }

  /**
   * Atomically takes the backlog after `lastEventId` (or the last `backlog` events when it is
   * absent) and subscribes `listener` to everything after it. Returns the backlog and an unsubscribe.
   */
  subscribe(
    listener: EventListener,
    from: { lastEventId?: string | undefined; backlog?: number | undefined } = {},
  ): Backlog & { unsubscribe: () => void } {
    const backlog = this.#backlog(from)
    this.#listeners.add(listener)
    return { ...backlog, unsubscribe: () => this.#listeners.delete(listener) }
  }

  /** Events still held, oldest first. */
  recent(limit = this.capacity): ControlEvent[] {
    const last = this.#next - 1
    const first = Math.max(1, last - Math.min(limit, this.capacity) + 1)
    const out: ControlEvent[] = []
    for (let n = first; n <= last; n++) out.push(this.#ring[n % this.capacity]!)
    return out
  }

  get listenerCount(): number {
    return this.#listeners.size
  }

  #backlog(from: { lastEventId?: string | undefined; backlog?: number | undefined }): Backlog {
    if (from.lastEventId === undefined || from.lastEventId === '') {
      return { events: from.backlog ? this.recent(from.backlog) : [], gap: undefined }
    }
    const dash = from.lastEventId.lastIndexOf('-')
    const boot = from.lastEventId.slice(0, dash)
    const n = Number(from.lastEventId.slice(dash + 1))
    const last = this.#next - 1
    if (dash < 0 || boot !== this.bootId || !Number.isInteger(n) || n < 0 || n > last) {
      // Another run of the agent numbered it: everything held now is news to this client.
      return { events: this.recent(), gap: 'restarted' }
    }
    const oldest = Math.max(1, last - this.capacity + 1)
    if (n + 1 < oldest) return { events: this.recent(), gap: 'overflow' }
    return { events: this.recent(last - n), gap: undefined }
  }
}
