/**
 * The replica-group benchmarks' client of the kv guest: like src/demo/kv-client.ts (a write is
 * `SET k v` + `GET k`, acknowledged when the unique line `v` is released), but it learns of released
 * output from a pushed stream (followLogs, server-sent events) instead of polling every 20 ms, so a
 * latency is not rounded up to the poll, and it keeps each attempt's times, so a benchmark can tell
 * which primary served a write. Not a benchmark itself (run-all skips it).
 */
import type { ControlClient } from '../src/agent/control/index.ts'
import { sleep, wallNow } from './group-harness.ts'

type LineListener = (line: string, at: number) => void

/** The released stdout of one workload through one agent, line by line, each with the wall time it arrived. */
export class ReleasedLines {
  readonly label: string
  /** Resolves once the stream is connected (lines released from then on are seen). */
  readonly ready: Promise<void>
  readonly #listeners = new Set<LineListener>()
  #partial = ''

  constructor(client: ControlClient, workload: string, label: string, signal: AbortSignal) {
    this.label = label
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    this.ready = promise
    void this.#follow(client, workload, signal, resolve).then(
      () => reject(new Error(`the output of ${workload} on ${label} ended`)),
      (err: unknown) => reject(err),
    )
    // Nobody may be waiting on `ready` when the stream ends on abort.
    promise.catch(() => {})
  }

  /** Calls `fn` for every line from now on; returns the unsubscribe. */
  onLine(fn: LineListener): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  async #follow(client: ControlClient, workload: string, signal: AbortSignal, ready: () => void) {
    try {
      for await (const item of client.followLogs(workload, { signal, from: 0 })) {
        if (item.type === 'state') {
          if (item.state === 'connected') ready()
          continue
        }
        if (item.chunk.stream !== 'stdout') continue
        const at = wallNow()
        const lines = (this.#partial + Buffer.from(item.chunk.data, 'base64').toString()).split('\n')
        this.#partial = lines.pop() ?? ''
        for (const line of lines) for (const fn of this.#listeners) fn(line, at)
      }
    } catch (err) {
      if (!signal.aborted) throw err
    }
  }
}

export interface KvWriterOptions {
  workload: string
  /** Agents to send requests through, the next one tried when a call fails. */
  clients: ControlClient[]
  /** Where acknowledgements are seen: the first sighting of a reply on any of them counts. */
  followers: ReleasedLines[]
  /** Send a request again when its reply has not come this long after the agent took it. */
  retryAfterMs?: number
  giveUpAfterMs?: number
  signal?: AbortSignal
}

/** One acknowledged write. Times are wall-clock ms (wallNow), comparable with agents' event times. */
export interface Ack {
  key: string
  value: string
  attempts: number
  firstSentAt: number
  /** When the last attempt's stdin call started. */
  lastSentAt: number
  /** The last attempt's stdin call, ms (the control API round trip, with the agent's primary lookup). */
  stdinMs: number
  /** When the reply was first seen released. */
  ackAt: number
  /** ackAt - firstSentAt. */
  latencyMs: number
  /** Which follower saw it first. */
  seenOn: string
}

/** Writes to the kv guest; `set` may be called concurrently (values must be unique). */
export class KvWriter {
  readonly #options: Required<Omit<KvWriterOptions, 'signal'>> & { signal: AbortSignal | undefined }
  readonly #waiting = new Map<string, (seen: { at: number; on: string }) => void>()
  readonly #unsubscribe: (() => void)[]
  #turn = 0

  constructor(options: KvWriterOptions) {
    this.#options = { retryAfterMs: 1000, giveUpAfterMs: 60_000, ...options, signal: options.signal }
    this.#unsubscribe = options.followers.map((f) =>
      f.onLine((line, at) => {
        const done = this.#waiting.get(line)
        if (!done) return
        this.#waiting.delete(line)
        done({ at, on: f.label })
      }),
    )
  }

  async set(key: string, value: string): Promise<Ack> {
    const { promise: reply, resolve } = Promise.withResolvers<{ at: number; on: string }>()
    // Listening before sending: a reply may be released before the stdin call returns.
    this.#waiting.set(value, resolve)
    const data = Buffer.from(`SET ${key} ${value}\nGET ${key}\n`).toString('base64')
    const firstSentAt = wallNow()
    const deadline = firstSentAt + this.#options.giveUpAfterMs
    let attempts = 0
    try {
      for (;;) {
        this.#options.signal?.throwIfAborted()
        attempts++
        const sentAt = wallNow()
        const client = this.#options.clients[this.#turn % this.#options.clients.length]!
        try {
          await client.stdin(this.#options.workload, { data }, { signal: this.#options.signal })
        } catch (err) {
          this.#turn++
          if (wallNow() > deadline) throw err
          await sleep(100, this.#options.signal)
          continue
        }
        const stdinMs = wallNow() - sentAt
        const seen = await Promise.race([reply, sleep(this.#options.retryAfterMs, this.#options.signal)])
        if (seen) {
          return {
            key,
            value,
            attempts,
            firstSentAt,
            lastSentAt: sentAt,
            stdinMs,
            ackAt: seen.at,
            latencyMs: seen.at - firstSentAt,
            seenOn: seen.on,
          }
        }
        if (wallNow() > deadline)
          throw new Error(`no reply to SET ${key} within ${this.#options.giveUpAfterMs} ms`)
      }
    } finally {
      this.#waiting.delete(value)
    }
  }

  close(): void {
    for (const off of this.#unsubscribe) off()
  }
}
