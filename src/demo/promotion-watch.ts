/**
 * Listens to agents' live event streams for a workload's promotion past an epoch. The failover's
 * figures (detection, election, promotion) come from the new primary's own 'promotion' event, not
 * from the demo's clock, so what the demo shows is what the agent measured.
 */
import type { ControlClient, ControlEventBody } from '../control/index.ts'

export type PromotionEvent = Extract<ControlEventBody, { type: 'promotion' }>

export interface PromotionWatch {
  /** How many of the streams are connected now. */
  connected(): number
  /** Every promotion seen past the epoch so far, in the order they came. */
  promotions(): PromotionEvent[]
  /** Ends every stream. */
  stop(): void
}

/** Follows each client's events (with a backlog, so an event just before the connection still counts). */
export function watchPromotion(
  clients: ControlClient[],
  workload: string,
  afterEpoch: number,
  signal: AbortSignal,
): PromotionWatch {
  const stopper = new AbortController()
  const streams = AbortSignal.any([signal, stopper.signal])
  const connected = new Set<ControlClient>()
  const found: PromotionEvent[] = []
  const follow = async (client: ControlClient) => {
    for await (const item of client.events({ signal: streams, backlog: 100 })) {
      if (item.type === 'state') {
        if (item.state === 'connected') connected.add(client)
        else connected.delete(client)
      } else if (item.type === 'event') {
        const e = item.event
        if (e.type === 'promotion' && e.workload === workload && e.epoch > afterEpoch) found.push(e)
      }
    }
  }
  for (const client of clients) {
    // The stream ends by the abort (or the agent refusing it); either way the caller's deadline decides.
    follow(client).catch(() => connected.delete(client))
  }
  return {
    connected: () => connected.size,
    promotions: () => [...found],
    stop: () => stopper.abort(),
  }
}
