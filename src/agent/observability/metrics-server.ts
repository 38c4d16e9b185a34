/**
 * The Prometheus scrape endpoint: `GET /metrics` in the text exposition format, 404
 * anywhere else. It listens on loopback unless told otherwise and stops when its
 * AbortSignal fires.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import { ListenError } from '../../errors/index.ts'
import type { Logger } from './logger.ts'

/**
 * More metrics to serve after the registry's: anything with `metrics()` returning text in
 * the same format, such as another prom-client Registry. This is the hook for libp2p's
 * metrics when they live in a registry of their own; their names must not repeat ours.
 * (Simpler still: give `metrics.registry` to libp2p's prometheus metrics as its registry.)
 */
export interface MetricsSource {
  metrics(): Promise<string> | string
}

export interface ServeMetricsOptions {
  registry: Registry
  /** Default 127.0.0.1. */
  host?: string
  /** Default 9464; 0 picks a free port. */
  port?: number
  /** Closes the server (and open connections) when aborted. */
  signal: AbortSignal
  sources?: readonly MetricsSource[]
  /** Told about scrapes that failed (the scraper gets a 500 with the message). */
  logger?: Logger
}

export interface MetricsServer {
  /** `http://host:port/metrics`. */
  url: string
  host: string
  port: number
  /** Settles once the server has closed after the abort. */
  closed: Promise<void>
}

const PATH = '/metrics'

/** Starts the endpoint; resolves once it listens. */
export async function serveMetrics(options: ServeMetricsOptions): Promise<MetricsServer> {
  const { registry, signal } = options
  const host = options.host ?? '127.0.0.1'
  const sources = options.sources ?? []
  signal.throwIfAborted()

  const server = createServer((req, res) => {
    handle(req, res, registry, sources).catch((err: unknown) => {
      options.logger?.warn({ err }, 'metrics scrape failed')
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      res.end(`collecting metrics failed: ${(err as Error).message}\n`)
    })
  })
  // A scraper that keeps its connection open must not hold the agent's shutdown.
  server.keepAliveTimeout = 5000

  const address = `${host}:${options.port ?? 9464}`
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint =
        err.code === 'EADDRINUSE' ? ': another program (or agent) uses that port; set metrics.port' : ''
      reject(
        new ListenError(address, `cannot serve metrics on ${address}: ${err.message}${hint}`, { cause: err }),
      )
    }
    server.once('error', onError)
    server.listen({ host, port: options.port ?? 9464 }, () => {
      server.off('error', onError)
      resolve()
    })
  })

  const closed = new Promise<void>((resolve) => server.once('close', () => resolve()))
  const stop = () => {
    server.close()
    server.closeAllConnections()
  }
  if (signal.aborted) stop()
  else signal.addEventListener('abort', stop, { once: true })

  const port = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host
  return { url: `http://${urlHost}:${port}${PATH}`, host, port, closed }
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  registry: Registry,
  sources: readonly MetricsSource[],
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]
  if (path !== PATH) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
    res.end(`not found: metrics are at ${PATH}\n`)
    return
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
    res.end('method not allowed\n')
    return
  }
  let body = await registry.metrics()
  for (const source of sources) {
    const text = await source.metrics()
    if (text === '') continue
    if (!body.endsWith('\n') && body !== '') body += '\n'
    body += text
  }
  res.writeHead(200, { 'content-type': registry.contentType })
  res.end(req.method === 'HEAD' ? undefined : body)
}
