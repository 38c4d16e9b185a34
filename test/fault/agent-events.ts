/**
 * Every agent's control events, on the run's time line. One reconnecting SSE stream per agent: across
 * a SIGSTOP it resumes with Last-Event-ID, across a restart the agent replays what its new boot has
 * published so far (a 'restarted' gap), so events of the new incarnation are not missed. Events are
 * deduplicated by id (`<bootId>-<n>`). What a killed agent had not yet delivered is lost with it.
 */
import type { ControlClient, ControlEvent } from '../../src/agent/control/index.ts'

export interface RecordedEvent {
  /** ms on the run's time line (from the agent's own timestamp). */
  at: number
  site: string
  event: ControlEvent
}

export class EventRecorder {
  readonly events: RecordedEvent[] = []
  readonly #seen = new Set<string>()
  readonly #toRunTime: (wallMs: number) => number
  readonly #follows: Promise<void>[] = []
  readonly #errors: Error[] = []

  /** `toRunTime`: converts the agents' Date.now() timestamps to the run's time line. */
  constructor(toRunTime: (wallMs: number) => number) {
    this.#toRunTime = toRunTime
  }

  /** Follows one agent's events until `signal` aborts. */
  /**
   * Follows one agent's events. Agents also publish events of their group that happened elsewhere
   * (a promotion on another member): with `peerId`, those are left to the agent they happened on, so
   * each event is attributed to its own site once.
   */
  follow(site: string, client: ControlClient, signal: AbortSignal, peerId?: string): void {
    const run = async () => {
      const stream = client.events({ signal, backlog: 1024, retry: { initialMs: 100, maxMs: 500 } })
      for await (const item of stream) {
        if (item.type !== 'event') continue
        const { event } = item
        if (this.#seen.has(event.id)) continue
        if (
          peerId !== undefined &&
          'peerId' in event &&
          event.type !== 'repair' &&
          event.type !== 'peer' &&
          event.peerId !== peerId
        )
          continue
        this.#seen.add(event.id)
        this.events.push({ at: this.#toRunTime(event.time), site, event })
      }
    }
    this.#follows.push(
      run().catch((err: unknown) => {
        if (!signal.aborted) this.#errors.push(new Error(`events of ${site}: ${(err as Error).message}`))
      }),
    )
  }

  /** Resolves when every follow has ended (after their signal aborted); rejects if one failed. */
  async done(): Promise<void> {
    await Promise.all(this.#follows)
    if (this.#errors.length > 0) throw this.#errors[0]
  }

  /** The events so far, in time order. */
  sorted(): RecordedEvent[] {
    return [...this.events].sort((a, b) => a.at - b.at)
  }
}
