/**
 * A client of the replicated kv guest (guests/kv) through an agent's control API: it writes requests
 * to the workload's stdin and reads the released output. Only released output counts: a reply seen
 * here is acknowledged, and must survive any failover.
 *
 * Replies carry no request id, so attribution comes from the values: a write is sent as
 * `SET k v` + `GET k` and counts as acknowledged when the line `v` appears (values are unique). A
 * request whose reply does not come is sent again: SET is idempotent, so a duplicate is harmless.
 */
import { setTimeout } from 'node:timers/promises'
import type { ControlClient } from '../control/index.ts'

export interface KvClientOptions {
  /** How long to wait for a reply before sending the request again. */
  retryAfterMs?: number
  /** How long to keep trying one request before giving up. */
  giveUpAfterMs?: number
  /** Ends every request under way at once (its calls and waits), with the signal's reason. */
  signal?: AbortSignal
}

export interface WriteResult {
  key: string
  value: string
  /** ms from the first send to the acknowledgement. */
  latencyMs: number
  attempts: number
}

export class KvClient {
  readonly #clients: ControlClient[]
  readonly #workload: string
  readonly #options: Required<Omit<KvClientOptions, 'signal'>> & { signal: AbortSignal | undefined }
  /** Byte offset of the released output read so far. */
  #offset = 0
  #partial = ''
  #turn = 0

  /** `clients`: agents to talk to, tried in turn when one does not answer. */
  constructor(clients: ControlClient[], workload: string, options: KvClientOptions = {}) {
    this.#clients = clients
    this.#workload = workload
    this.#options = {
      retryAfterMs: options.retryAfterMs ?? 5000,
      giveUpAfterMs: options.giveUpAfterMs ?? 60_000,
      signal: options.signal,
    }
  }

  /** Writes key=value and resolves once its reply was released. */
  async set(key: string, value: string): Promise<WriteResult> {
    const started = performance.now()
    const { line, attempts } = await this.#request(`SET ${key} ${value}\nGET ${key}\n`, (l) => l === value)
    void line
    return { key, value, latencyMs: performance.now() - started, attempts }
  }

  /** The guest's answer to `KEYS`: every key it holds. */
  async keys(): Promise<string[]> {
    const { line } = await this.#request('KEYS\n', (l) => /^\d+( |$)/.test(l))
    return line.split(' ').slice(1)
  }

  /** One request line whose reply is recognisable; resolves with that reply. */
  async #request(
    text: string,
    isReply: (line: string) => boolean,
  ): Promise<{ line: string; attempts: number }> {
    const deadline = performance.now() + this.#options.giveUpAfterMs
    let attempts = 0
    // Drop replies of earlier requests that came late.
    await this.#drain()
    const signal = this.#options.signal
    for (;;) {
      signal?.throwIfAborted()
      attempts++
      try {
        const data = Buffer.from(text).toString('base64')
        await this.#client().stdin(this.#workload, { data }, { signal })
      } catch (err) {
        signal?.throwIfAborted()
        this.#turn++
        if (performance.now() > deadline) throw err
        await sleep(100, signal)
        continue
      }
      const until = Math.min(deadline, performance.now() + this.#options.retryAfterMs)
      while (performance.now() < until) {
        const line = (await this.#drain()).find(isReply)
        if (line !== undefined) return { line, attempts }
        await sleep(20, signal)
      }
      if (performance.now() > deadline) {
        throw new Error(
          `no reply to ${JSON.stringify(text.split('\n')[0])} within ${this.#options.giveUpAfterMs} ms`,
        )
      }
    }
  }

  /** Reads newly released output; returns the complete lines. */
  async #drain(): Promise<string[]> {
    let res: Awaited<ReturnType<ControlClient['logs']>>
    try {
      res = await this.#client().logs(
        this.#workload,
        { from: this.#offset },
        { signal: this.#options.signal },
      )
    } catch {
      this.#options.signal?.throwIfAborted()
      this.#turn++
      return []
    }
    for (const chunk of res.chunks) {
      if (chunk.offset > this.#offset) {
        // This agent's replica started from a checkpoint: older output is not held there. Only
        // replies to requests sent from now on matter, so skip ahead.
        this.#offset = chunk.offset
        this.#partial = ''
      }
      if (chunk.offset !== this.#offset) continue
      const bytes = Buffer.from(chunk.data, 'base64')
      if (chunk.stream === 'stdout') this.#partial += bytes.toString()
      this.#offset += bytes.length
    }
    const lines = this.#partial.split('\n')
    this.#partial = lines.pop() ?? ''
    return lines
  }

  #client(): ControlClient {
    return this.#clients[this.#turn % this.#clients.length]!
  }
}

async function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await setTimeout(ms, undefined, signal ? { signal } : {})
  } catch (err) {
    throw signal?.aborted ? signal.reason : err
  }
}
