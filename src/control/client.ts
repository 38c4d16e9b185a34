import { type IncomingMessage, request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { AgentUnreachableError, ControlApiError } from '../errors/index.ts'
import {
  type AgentStatus,
  API_PREFIX,
  type ControlAddress,
  type ControlEvent,
  type ErrorBody,
  type Explanation,
  type FailoverRequest,
  type FailoverResponse,
  type GapEvent,
  type HelloEvent,
  type LogChunk,
  type LogsResponse,
  type PeerInfo,
  type PeersResponse,
  type RunRequest,
  type RunResponse,
  type StdinRequest,
  type StdinResponse,
  type StopRequest,
  type StopResponse,
  type WorkloadDetail,
  type WorkloadSummary,
  type WorkloadsResponse,
} from './api-types.ts'
import { type SseMessage, SseParser } from './sse.ts'

export interface RetryOptions {
  /** First wait before reconnecting (default 250 ms); doubles up to maxMs. */
  initialMs?: number | undefined
  maxMs?: number | undefined
}

export interface ControlClientOptions {
  /** Default time limit of one call (default 10 s); also how long a stream may take to say hello. */
  timeoutMs?: number | undefined
  /** Reconnection backoff of event and log streams. */
  retry?: RetryOptions | undefined
}

export interface CallOptions {
  signal?: AbortSignal | undefined
  /** Overrides the client's timeoutMs for this call. */
  timeoutMs?: number | undefined
}

/**
 * A stream's connection state, reported on every change: 'connected' when the agent answers (again),
 * 'unreachable' once when it stops answering; the stream keeps retrying until its signal aborts.
 */
export type StreamState =
  | { type: 'state'; state: 'connected'; bootId: string }
  | { type: 'state'; state: 'unreachable'; error: Error; retryInMs: number }

export type EventStreamItem =
  | { type: 'event'; event: ControlEvent }
  /** Events were missed (the agent restarted, or the client was away too long): refetch snapshots. */
  | { type: 'gap'; reason: GapEvent['reason'] }
  | StreamState

export type LogStreamItem = { type: 'chunk'; chunk: LogChunk } | StreamState

export interface StreamOptions {
  /** Ends the stream: the iterator throws the abort reason. */
  signal?: AbortSignal | undefined
  retry?: RetryOptions | undefined
  /** Reconnect when nothing (not even a heartbeat) came for this long (default: 2 heartbeats + 1 s). */
  staleAfterMs?: number | undefined
}

export interface EventsOptions extends StreamOptions {
  /** Resume after this event (an id from an earlier stream). */
  lastEventId?: string | undefined
  /** Without lastEventId: start with up to this many recent events. */
  backlog?: number | undefined
}

export interface FollowLogsOptions extends StreamOptions {
  /** Byte offset to start from (default 0). */
  from?: number | undefined
}

const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_RETRY = { initialMs: 250, maxMs: 5_000 }
const MAX_RESPONSE_BYTES = 64 << 20

/** The bytes of a log chunk. */
export function logChunkBytes(chunk: LogChunk): Uint8Array {
  return new Uint8Array(Buffer.from(chunk.data, 'base64'))
}

/**
 * The typed client of the agent's control API, over its Unix socket or loopback TCP with the token.
 * The CLI and the TUI talk to the agent only through this. A call fails with AgentUnreachableError
 * when the agent does not answer (in time), ControlApiError when it answers with an error.
 */
export class ControlClient {
  readonly address: ControlAddress
  readonly #timeoutMs: number
  readonly #retry: Required<RetryOptions>

  constructor(address: ControlAddress, options: ControlClientOptions = {}) {
    this.address = address
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#retry = { ...DEFAULT_RETRY, ...definedOnly(options.retry) }
  }

  status(options?: CallOptions): Promise<AgentStatus> {
    return this.#call('GET', '/status', undefined, options)
  }

  async peers(options?: CallOptions): Promise<PeerInfo[]> {
    return (await this.#call<PeersResponse>('GET', '/peers', undefined, options)).peers
  }

  async workloads(options?: CallOptions): Promise<WorkloadSummary[]> {
    return (await this.#call<WorkloadsResponse>('GET', '/workloads', undefined, options)).workloads
  }

  workload(name: string, options?: CallOptions): Promise<WorkloadDetail> {
    return this.#call('GET', workloadPath(name), undefined, options)
  }

  run(req: RunRequest, options?: CallOptions): Promise<RunResponse> {
    return this.#call('POST', '/workloads', req, options)
  }

  stop(name: string, req: StopRequest = {}, options?: CallOptions): Promise<StopResponse> {
    return this.#call('POST', `${workloadPath(name)}/stop`, req, options)
  }

  failover(name: string, req: FailoverRequest = {}, options?: CallOptions): Promise<FailoverResponse> {
    return this.#call('POST', `${workloadPath(name)}/failover`, req, options)
  }

  explain(name: string, options?: CallOptions): Promise<Explanation> {
    return this.#call('GET', `${workloadPath(name)}/explain`, undefined, options)
  }

  /** Released output from `from` on, as much as the agent gives in one answer; ask again from `next`. */
  logs(name: string, query: { from?: number } = {}, options?: CallOptions): Promise<LogsResponse> {
    return this.#call('GET', `${workloadPath(name)}/logs?from=${query.from ?? 0}`, undefined, options)
  }

  stdin(name: string, req: StdinRequest, options?: CallOptions): Promise<StdinResponse> {
    return this.#call('POST', `${workloadPath(name)}/stdin`, req, options)
  }

  /**
   * The agent's live events. Reconnects by itself after a dropped connection, resuming with
   * Last-Event-ID so nothing is missed or repeated (or yields a gap when that cannot be done), and
   * yields a state item on each change between connected and unreachable.
   */
  async *events(options: EventsOptions = {}): AsyncGenerator<EventStreamItem, void, undefined> {
    const query = options.backlog ? `?backlog=${options.backlog}` : ''
    for await (const item of this.#stream(`/events${query}`, options.lastEventId, options)) {
      if (item.type === 'state') yield item
      else if (item.message.event === 'gap') {
        yield { type: 'gap', reason: (JSON.parse(item.message.data) as GapEvent).reason }
      } else if (item.message.event === 'message') {
        yield { type: 'event', event: JSON.parse(item.message.data) as ControlEvent }
      }
    }
  }

  /** Released output as it comes (`understudy logs -f`); resumes at the right byte after a drop. Ends with the workload. */
  async *followLogs(
    name: string,
    options: FollowLogsOptions = {},
  ): AsyncGenerator<LogStreamItem, void, undefined> {
    const path = `${workloadPath(name)}/logs?follow=true&from=${options.from ?? 0}`
    for await (const item of this.#stream(path, undefined, options)) {
      if (item.type === 'state') yield item
      else if (item.message.event === 'end') return
      else if (item.message.event === 'error') throw apiError(500, item.message.data)
      else if (item.message.event === 'message')
        yield { type: 'chunk', chunk: JSON.parse(item.message.data) as LogChunk }
    }
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body: unknown, options: CallOptions = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
    try {
      const res = await this.#send(method, path, signal, {}, body)
      const text = await readText(res)
      if ((res.statusCode ?? 500) >= 400) throw apiError(res.statusCode ?? 500, text)
      return JSON.parse(text) as T
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason
      if (timeout.aborted) {
        throw new AgentUnreachableError(
          this.#label,
          `the agent did not answer ${method} ${API_PREFIX}${path} on ${this.#label} within ${timeoutMs} ms`,
          { cause: err },
        )
      }
      throw err
    }
  }

  /** Sends one request; connection failures become AgentUnreachableError. */
  #send(
    method: string,
    path: string,
    signal: AbortSignal,
    headers: Record<string, string>,
    body?: unknown,
  ): Promise<IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const all: Record<string, string> = { accept: 'application/json', ...headers }
    if ('token' in this.address) all.authorization = `Bearer ${this.address.token}`
    if (payload !== undefined) {
      all['content-type'] = 'application/json'
      all['content-length'] = String(Buffer.byteLength(payload))
    }
    const where =
      'socketPath' in this.address
        ? { socketPath: this.address.socketPath }
        : { host: this.address.host, port: this.address.port }
    return new Promise((resolve, reject) => {
      const req = request({
        ...where,
        method,
        path: `${API_PREFIX}${path}`,
        headers: all,
        signal,
        agent: false,
      })
      req.once('response', resolve)
      req.once('error', (err: NodeJS.ErrnoException) => {
        if (signal.aborted) return reject(err)
        if (
          ['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'EACCES', 'ETIMEDOUT'].includes(err.code ?? '')
        ) {
          const hint =
            err.code === 'EACCES'
              ? ' (the socket belongs to another user)'
              : ' (is `understudy agent` running?)'
          reject(
            new AgentUnreachableError(
              this.#label,
              `cannot reach the agent on ${this.#label}: ${err.message}${hint}`,
              { cause: err },
            ),
          )
          return
        }
        reject(err)
      })
      req.end(payload)
    })
  }

  /**
   * One reconnecting event stream: yields its messages and state changes; `resumeId` (then the id of
   * each message yielded) goes out as Last-Event-ID on every reconnect.
   */
  async *#stream(
    path: string,
    resumeId: string | undefined,
    options: StreamOptions,
  ): AsyncGenerator<{ type: 'message'; message: SseMessage } | StreamState, void, undefined> {
    const retry = { ...this.#retry, ...definedOnly(options.retry) }
    const outer = options.signal
    let state: 'connected' | 'unreachable' | undefined
    let wait = retry.initialMs
    for (;;) {
      outer?.throwIfAborted()
      const conn = new AbortController()
      const signal = outer ? AbortSignal.any([outer, conn.signal]) : conn.signal
      let staleAfter = this.#timeoutMs
      let watchdog: NodeJS.Timeout | undefined
      const arm = () => {
        clearTimeout(watchdog)
        watchdog = setTimeout(
          () => conn.abort(new AgentUnreachableError(this.#label, `the agent on ${this.#label} went silent`)),
          staleAfter,
        )
      }
      let failure: Error
      try {
        arm()
        const headers: Record<string, string> = { accept: 'text/event-stream' }
        if (resumeId !== undefined) headers['last-event-id'] = resumeId
        const res = await this.#send('GET', path, signal, headers)
        const status = res.statusCode ?? 500
        // A 4xx is a refusal, rethrown below; a 5xx is an outage, retried like a drop.
        if (status !== 200) throw apiError(status, await readText(res))
        const parser = new SseParser()
        res.setEncoding('utf8')
        for await (const text of res as AsyncIterable<string>) {
          arm()
          for (const message of parser.push(text)) {
            if (message.event === 'hello') {
              const hello = JSON.parse(message.data) as HelloEvent
              staleAfter = options.staleAfterMs ?? hello.heartbeatMs * 2 + 1_000
              arm()
              wait = retry.initialMs
              if (state !== 'connected') {
                state = 'connected'
                clearTimeout(watchdog) // the consumer's time is not the agent's silence
                yield { type: 'state', state, bootId: hello.bootId }
                arm()
              }
              continue
            }
            clearTimeout(watchdog)
            yield { type: 'message', message }
            if (message.id !== undefined) resumeId = message.id
            if (message.event === 'end') return
            arm()
          }
        }
        failure = new AgentUnreachableError(this.#label, `the agent on ${this.#label} closed the stream`)
      } catch (err) {
        if (outer?.aborted) throw outer.reason
        if (err instanceof ControlApiError && err.status < 500) throw err
        failure = conn.signal.aborted ? (conn.signal.reason as Error) : (err as Error)
      } finally {
        clearTimeout(watchdog)
        conn.abort()
      }
      if (state !== 'unreachable') {
        state = 'unreachable'
        yield { type: 'state', state, error: failure, retryInMs: wait }
      }
      try {
        await sleep(wait, undefined, { signal: outer })
      } catch {
        throw outer?.reason
      }
      wait = Math.min(wait * 2, retry.maxMs)
    }
  }

  get #label(): string {
    return 'socketPath' in this.address
      ? this.address.socketPath
      : `${this.address.host}:${this.address.port}`
  }
}

function workloadPath(name: string): string {
  return `/workloads/${encodeURIComponent(name)}`
}

function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>
}

function apiError(status: number, text: string): ControlApiError {
  try {
    const body = JSON.parse(text) as ErrorBody
    if (typeof body.error?.code === 'string') {
      return new ControlApiError(status, body.error.code, body.error.message, body.error.reasons ?? [])
    }
  } catch {
    // not our JSON: report the text as it came
  }
  return new ControlApiError(status, 'ERR_HTTP', `the agent answered ${status}: ${text.slice(0, 500)}`)
}

async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > MAX_RESPONSE_BYTES) {
      res.destroy()
      throw new ControlApiError(
        res.statusCode ?? 500,
        'ERR_HTTP',
        `the agent's answer is over ${MAX_RESPONSE_BYTES} bytes`,
      )
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
