import { createHash, timingSafeEqual } from 'node:crypto'
import { statSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { z } from 'zod'
import {
  API_PREFIX,
  type ControlAddress,
  type ControlEvent,
  eventsQuerySchema,
  failoverRequestSchema,
  type HelloEvent,
  type LogChunk,
  type LogsResponse,
  logsQuerySchema,
  runRequestSchema,
  stdinRequestSchema,
  stopRequestSchema,
} from '../../control/api-types.ts'
import { encodeSse, encodeSseComment } from '../../control/sse.ts'
import { BadRequestError, ListenError, UnauthorizedError, UnderstudyError } from '../../errors/index.ts'
import { errorResponse } from './error-status.ts'
import type { EventHub } from './event-hub.ts'
import type { Caller, ControlHandlers, RequestContext } from './handlers.ts'
import { clearStaleSocket, isLoopbackHost, listenPrivately, makePrivate } from './listen-address.ts'

export interface ControlServerInit {
  /** A Unix socket path (made 0600), or a loopback host and port (0: any free port) with a bearer token. */
  listen: ControlAddress
  handlers: ControlHandlers
  events: EventHub
  /** Largest request body accepted (default 1 MiB). */
  maxBodyBytes?: number | undefined
  /** SSE comment heartbeat interval (default 15 s). */
  heartbeatMs?: number | undefined
  /** How long close() lets requests in flight finish before cutting them (default 5 s). */
  closeGraceMs?: number | undefined
  /** Aborting it closes the server, as close() does. */
  signal?: AbortSignal | undefined
  /** Told of every error answered with a 500 and of handler failures mid-stream, for the agent's log. */
  onError?: ((error: unknown, request: { method: string; path: string }) => void) | undefined
}

const DEFAULT_MAX_BODY = 1 << 20
const DEFAULT_HEARTBEAT_MS = 15_000
const DEFAULT_CLOSE_GRACE_MS = 5_000
/** A non-follow logs answer stops after this much output; the client asks again from `next`. */
const MAX_LOGS_RESPONSE_BYTES = 1 << 20
/** An SSE client that lets this much pile up unread is cut off; it resumes with Last-Event-ID. */
const MAX_SSE_BUFFERED = 4 << 20
const MIN_TOKEN_LENGTH = 16

type Route = {
  method: 'GET' | 'POST'
  path: RegExp
  run: (m: {
    name: string
    req: IncomingMessage
    res: ServerResponse
    url: URL
    ctx: RequestContext
  }) => Promise<void>
}

/**
 * The agent's local control API: HTTP + JSON (and server-sent events) on a Unix socket or on
 * loopback TCP with a bearer token. It implements no agent logic: every route calls `handlers`,
 * and /v1/events streams what is published to `events`.
 */
export class ControlServer {
  /** Where it listens, with the actual port when 0 was asked; give it to ControlClient. */
  readonly address: ControlAddress
  readonly #server: Server
  readonly #init: ControlServerInit
  readonly #maxBody: number
  readonly #heartbeatMs: number
  readonly #tokenDigest: Buffer | undefined
  readonly #routes: Route[]
  readonly #inFlight = new Set<AbortController>()
  readonly #streams = new Set<ServerResponse>()
  readonly #streamed = new WeakSet<ServerResponse>()
  #closing: Promise<void> | undefined

  private constructor(server: Server, address: ControlAddress, init: ControlServerInit) {
    this.#server = server
    this.address = address
    this.#init = init
    this.#maxBody = init.maxBodyBytes ?? DEFAULT_MAX_BODY
    this.#heartbeatMs = init.heartbeatMs ?? DEFAULT_HEARTBEAT_MS
    this.#tokenDigest = 'token' in address ? digest(address.token) : undefined
    this.#routes = this.#buildRoutes()
  }

  /** Listens and serves until close() or the signal. Fails with ListenError when it cannot listen. */
  static async start(init: ControlServerInit): Promise<ControlServer> {
    init.signal?.throwIfAborted()
    const listen = init.listen
    const label = 'socketPath' in listen ? listen.socketPath : `${listen.host}:${listen.port}`
    if (!('socketPath' in listen)) {
      if (!isLoopbackHost(listen.host)) {
        throw new ListenError(
          label,
          `the control API listens only on loopback (127.0.0.1, ::1, localhost), not ${listen.host}: ` +
            'anyone who can reach it could run and stop workloads',
        )
      }
      if (listen.token.length < MIN_TOKEN_LENGTH) {
        throw new ListenError(label, `the control API token must be at least ${MIN_TOKEN_LENGTH} characters`)
      }
    } else {
      await clearStaleSocket(listen.socketPath)
    }

    const server = createServer()
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        server.off('listening', onListening)
        reject(
          new ListenError(label, `the control API cannot listen on ${label}: ${err.message}`, { cause: err }),
        )
      }
      const onListening = () => {
        server.off('error', onError)
        resolve()
      }
      server.once('error', onError)
      server.once('listening', onListening)
      if ('socketPath' in listen) listenPrivately(() => server.listen(listen.socketPath))
      else server.listen(listen.port, listen.host)
    })
    // Errors after listening (accept failures) are the agent's to log; they must not crash it.
    server.on('error', (err) => init.onError?.(err, { method: '', path: '' }))

    let address: ControlAddress
    if ('socketPath' in listen) {
      makePrivate(listen.socketPath)
      const mode = statSync(listen.socketPath).mode & 0o777
      if (mode !== 0o600) {
        server.close()
        throw new ListenError(label, `the control socket ${label} has mode ${mode.toString(8)}, not 600`)
      }
      address = { socketPath: listen.socketPath }
    } else {
      address = { host: listen.host, port: (server.address() as AddressInfo).port, token: listen.token }
    }
    const control = new ControlServer(server, address, init)
    server.on('request', (req, res) => control.#handle(req, res))
    init.signal?.addEventListener('abort', () => void control.close(), { once: true })
    return control
  }

  /**
   * Stops accepting, ends event streams, lets requests in flight finish for the grace period, then
   * aborts them and cuts their connections. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
      for (const res of this.#streams) res.end()
      this.#server.closeIdleConnections()
      const grace = setTimeout(() => {
        for (const ac of this.#inFlight)
          ac.abort(new ListenError(this.#label, 'the control API is shutting down'))
        this.#server.closeAllConnections()
      }, this.#init.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS)
      await closed
      clearTimeout(grace)
    })()
    return this.#closing
  }

  get #label(): string {
    return 'socketPath' in this.address
      ? this.address.socketPath
      : `${this.address.host}:${this.address.port}`
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ac = new AbortController()
    this.#inFlight.add(ac)
    res.on('close', () => {
      this.#inFlight.delete(ac)
      // A stream's handler may still be waiting for output: it ends with its stream, however it ended.
      if (!res.writableFinished || this.#streamed.has(res)) ac.abort(new Error('the request ended'))
      // Keep-alive connections that go idle while closing must not hold close() up.
      if (this.#closing) this.#server.closeIdleConnections()
    })
    const url = new URL(req.url ?? '/', 'http://control')
    const method = req.method ?? 'GET'
    try {
      const caller = this.#authenticate(req)
      const matched = this.#match(method, url.pathname)
      await matched.route.run({ name: matched.name, req, res, url, ctx: { caller, signal: ac.signal } })
    } catch (err) {
      this.#fail(res, err, method, url.pathname)
    }
  }

  #authenticate(req: IncomingMessage): Caller {
    if (!this.#tokenDigest)
      return { transport: 'unix', localAdmin: true, principal: 'local-admin (unix socket)' }
    const header = req.headers.authorization ?? ''
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (!match)
      throw new UnauthorizedError(
        'this control API needs the agent token: send Authorization: Bearer <token>',
      )
    if (!timingSafeEqual(digest(match[1]!), this.#tokenDigest)) {
      throw new UnauthorizedError('the bearer token is not this agent’s control token')
    }
    return { transport: 'tcp', localAdmin: true, principal: 'local-admin (token)' }
  }

  #match(method: string, path: string): { route: Route; name: string } {
    const allowed: string[] = []
    for (const route of this.#routes) {
      const m = route.path.exec(path)
      if (!m) continue
      if (route.method !== method) {
        allowed.push(route.method)
        continue
      }
      let name = ''
      if (m[1] !== undefined) {
        try {
          name = decodeURIComponent(m[1])
        } catch {
          throw new BadRequestError(`the workload name in ${path} is not valid percent-encoding`)
        }
      }
      return { route, name }
    }
    if (allowed.length > 0) throw new MethodNotAllowed(method, path, allowed)
    throw new NotFound(`no such route: ${method} ${path} (routes live under ${API_PREFIX})`)
  }

  #fail(res: ServerResponse, err: unknown, method: string, path: string): void {
    const { status, body } = errorResponse(err)
    if (status >= 500) this.#init.onError?.(err, { method, path })
    if (res.headersSent) {
      // Too late for a status: cut the response so the client sees it as broken, not complete.
      res.destroy(err instanceof Error ? err : undefined)
      return
    }
    const headers: Record<string, string | string[]> = {}
    if (status === 401) headers['www-authenticate'] = 'Bearer realm="understudy"'
    if (err instanceof MethodNotAllowed) headers.allow = err.allowed.join(', ')
    sendJson(res, status, body, headers)
  }

  #buildRoutes(): Route[] {
    const h = this.#init.handlers
    const NAME = '([^/]+)'
    const at = (p: string) => new RegExp(`^${API_PREFIX}${p}/?$`)
    const json = (fn: (m: Parameters<Route['run']>[0]) => Promise<unknown>, status = 200): Route['run'] => {
      return async (m) => sendJson(m.res, status, await fn(m))
    }
    const body = async <S extends z.ZodType>(req: IncomingMessage, schema: S): Promise<z.output<S>> =>
      validate(schema, (await readJsonBody(req, this.#maxBody)) ?? {}, 'body')

    return [
      { method: 'GET', path: at('/status'), run: json(({ ctx }) => h.status(ctx)) },
      { method: 'GET', path: at('/peers'), run: json(async ({ ctx }) => ({ peers: await h.peers(ctx) })) },
      {
        method: 'GET',
        path: at('/workloads'),
        run: json(async ({ ctx }) => ({ workloads: await h.workloads(ctx) })),
      },
      {
        method: 'POST',
        path: at('/workloads'),
        run: json(async ({ req, ctx }) => h.run(await body(req, runRequestSchema), ctx), 201),
      },
      { method: 'GET', path: at(`/workloads/${NAME}`), run: json(({ name, ctx }) => h.workload(name, ctx)) },
      {
        method: 'POST',
        path: at(`/workloads/${NAME}/stop`),
        run: json(async ({ name, req, ctx }) => h.stop(name, await body(req, stopRequestSchema), ctx)),
      },
      {
        method: 'POST',
        path: at(`/workloads/${NAME}/failover`),
        run: json(async ({ name, req, ctx }) =>
          h.failover(name, await body(req, failoverRequestSchema), ctx),
        ),
      },
      {
        method: 'GET',
        path: at(`/workloads/${NAME}/explain`),
        run: json(({ name, ctx }) => h.explain(name, ctx)),
      },
      { method: 'GET', path: at(`/workloads/${NAME}/logs`), run: (m) => this.#logs(m) },
      {
        method: 'POST',
        path: at(`/workloads/${NAME}/stdin`),
        run: json(async ({ name, req, ctx }) => h.stdin(name, await body(req, stdinRequestSchema), ctx)),
      },
      { method: 'GET', path: at('/events'), run: (m) => this.#events(m) },
    ]
  }

  async #logs({ name, req, res, url, ctx }: Parameters<Route['run']>[0]): Promise<void> {
    const query = validate(logsQuerySchema, Object.fromEntries(url.searchParams), 'query')
    const resumeFrom = lastEventId(req)
    if (query.follow && resumeFrom !== undefined) {
      const from = Number(resumeFrom)
      if (!Number.isInteger(from) || from < 0)
        throw new BadRequestError('Last-Event-ID of a log stream is a byte offset')
      query.from = from
    }
    const chunks = await this.#init.handlers.logs(name, query, ctx)
    if (!query.follow) {
      const out: LogChunk[] = []
      let next = query.from
      let bytes = 0
      for await (const chunk of chunks) {
        out.push(chunk)
        const length = Buffer.byteLength(chunk.data, 'base64')
        next = chunk.offset + length
        bytes += length
        if (bytes >= MAX_LOGS_RESPONSE_BYTES) break
      }
      sendJson(res, 200, { chunks: out, next } satisfies LogsResponse)
      return
    }
    const stream = this.#openStream(res)
    try {
      for await (const chunk of chunks) {
        if (res.destroyed || res.writableEnded) break
        const next = chunk.offset + Buffer.byteLength(chunk.data, 'base64')
        stream.write(encodeSse({ id: String(next), data: JSON.stringify(chunk) }))
      }
      if (!res.writableEnded && !res.destroyed) stream.write(encodeSse({ event: 'end', data: '{}' }))
    } catch (err) {
      if (!ctx.signal.aborted) {
        this.#init.onError?.(err, { method: 'GET', path: url.pathname })
        stream.write(encodeSse({ event: 'error', data: JSON.stringify(errorResponse(err).body) }))
      }
    } finally {
      stream.end()
    }
  }

  async #events({ req, res, url }: Parameters<Route['run']>[0]): Promise<void> {
    const query = validate(eventsQuerySchema, Object.fromEntries(url.searchParams), 'query')
    const resumeFrom = lastEventId(req) ?? query.lastEventId
    const stream = this.#openStream(res)
    const send = (event: ControlEvent) =>
      stream.write(encodeSse({ id: event.id, data: JSON.stringify(event) }))
    // Backlog and subscription are taken together: nothing published can fall between them.
    const { events, gap, unsubscribe } = this.#init.events.subscribe(send, {
      lastEventId: resumeFrom,
      backlog: query.backlog,
    })
    res.on('close', unsubscribe)
    if (gap) stream.write(encodeSse({ event: 'gap', data: JSON.stringify({ reason: gap }) }))
    for (const event of events) send(event)
  }

  /** Starts an event-stream response: hello first, heartbeats until it ends; ended by close(). */
  #openStream(res: ServerResponse): { write: (text: string) => void; end: () => void } {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    })
    res.flushHeaders()
    this.#streams.add(res)
    this.#streamed.add(res)
    const write = (text: string) => {
      if (res.writableEnded || res.destroyed) return
      res.write(text)
      // A client that does not read is dropped rather than buffered without bound; it will resume.
      if (res.writableLength > MAX_SSE_BUFFERED) res.destroy()
    }
    const heartbeat = setInterval(() => write(encodeSseComment('heartbeat')), this.#heartbeatMs)
    res.on('close', () => {
      clearInterval(heartbeat)
      this.#streams.delete(res)
    })
    const hello: HelloEvent = { bootId: this.#init.events.bootId, heartbeatMs: this.#heartbeatMs }
    write(encodeSse({ event: 'hello', data: JSON.stringify(hello) }))
    return { write, end: () => res.end() }
  }
}

class NotFound extends UnderstudyError {
  constructor(message: string) {
    super('ERR_NOT_FOUND', message)
  }
}

class MethodNotAllowed extends UnderstudyError {
  readonly allowed: string[]

  constructor(method: string, path: string, allowed: string[]) {
    super('ERR_METHOD_NOT_ALLOWED', `${path} does not take ${method} (it takes ${allowed.join(', ')})`)
    this.allowed = allowed
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

function lastEventId(req: IncomingMessage): string | undefined {
  const value = req.headers['last-event-id']
  return typeof value === 'string' && value !== '' ? value : undefined
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  if (res.destroyed) return // the client left; nobody to answer
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(text)
}

function validate<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query'): z.output<S> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.')
    return `${path === '' ? `the ${where}` : `${where === 'query' ? '?' : ''}${path}`}: ${issue.message}`
  })
  throw new BadRequestError(`invalid request ${where}: ${problems.join('; ')}`)
}

/** The body parsed as JSON; undefined when empty. Refuses bodies over `limit` bytes without buffering them. */
function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const tooLarge = (size: string) =>
    new BadRequestError(`the request body is ${size}; the limit is ${limit} bytes`, 'ERR_BODY_TOO_LARGE')
  const declared = Number(req.headers['content-length'] ?? Number.NaN)
  if (declared > limit) return Promise.reject(tooLarge(`${declared} bytes`))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const cleanup = () => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
    }
    const onData = (chunk: Buffer) => {
      total += chunk.length
      if (total > limit) {
        // The rest of the body is discarded by Node once the response ends; the connection survives.
        cleanup()
        reject(tooLarge(`over ${limit} bytes`))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      if (total === 0) return resolve(undefined)
      const text = Buffer.concat(chunks).toString('utf8')
      try {
        resolve(JSON.parse(text))
      } catch (err) {
        reject(new BadRequestError(`the request body is not valid JSON: ${(err as Error).message}`))
      }
    }
    const onError = (err: Error) => {
      cleanup()
      reject(err)
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
  })
}
