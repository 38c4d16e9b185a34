/**
 * The workload's clients: `workers` loops, each writing fresh keys with unique values through
 * KvClient (acknowledged = its reply was released, see src/demo/kv-client.ts) and recording every
 * operation for the checker: ok when acknowledged, unknown when it gave up or the run ended first (it
 * may have happened). No write is ever certain not to have happened, so none is 'fail'.
 */
import type { ControlClient } from '../../src/agent/control/index.ts'
import { KvClient } from '../../src/demo/kv-client.ts'
import type { ClientOp } from './lab/index.ts'

export interface ClientLoopOptions {
  /** The agents' control clients; each worker starts at a different one and moves on when it fails. */
  clients: readonly ControlClient[]
  workload: string
  workers: number
  /** Makes values unique across runs too (a value seen must be one this run wrote). */
  tag: string
  /** The run's clock. */
  now: () => number
  /** Ends the loops; operations under way become 'unknown'. */
  signal: AbortSignal
  retryAfterMs?: number
  giveUpAfterMs?: number
}

export interface ClientLoops {
  readonly history: ClientOp[]
  /** Resolves when every worker has stopped (after the signal aborted). */
  done: Promise<void>
  acknowledged(): number
}

export function startClients(options: ClientLoopOptions): ClientLoops {
  const history: ClientOp[] = []
  let acked = 0
  const worker = async (w: number) => {
    const clients = options.clients.map((_, i) => options.clients[(i + w) % options.clients.length]!)
    const kv = new KvClient(clients, options.workload, {
      retryAfterMs: options.retryAfterMs ?? 2000,
      giveUpAfterMs: options.giveUpAfterMs ?? 20_000,
      signal: options.signal,
    })
    for (let n = 0; !options.signal.aborted; n++) {
      const key = `w${w}-${n}`
      const value = `${options.tag}.${w}.${n}`
      const start = options.now()
      try {
        await kv.set(key, value)
        history.push({ op: 'write', key, value, start, end: options.now(), result: 'ok' })
        acked++
      } catch {
        history.push({ op: 'write', key, value, start, end: options.now(), result: 'unknown' })
        if (!options.signal.aborted) await pause(100)
      }
    }
  }
  const done = Promise.all(Array.from({ length: options.workers }, (_, w) => worker(w))).then(() => {})
  return { history, done, acknowledged: () => acked }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
