/** The parent's handle on a probe running inside a site (see probe.ts). */
import type { ChildProcess } from 'node:child_process'
import { LineClient, type Message } from './json-lines.ts'

/** A connection a probe's server accepted; `remote` is the peer's address as the site sees it. */
export interface Accepted {
  conn: number
  remote: string
}

export type ConnectResult = { connected: true; conn: number } | { connected: false; error: string }

export class Probe {
  readonly site: string
  readonly process: ChildProcess
  private readonly client: LineClient
  private readonly received = new Map<number, string[]>()
  private readonly accepts = new Map<number, Accepted[]>()
  private readonly closedConns = new Set<number>()
  private readonly wake = new Set<() => void>()

  constructor(site: string, child: ChildProcess) {
    this.site = site
    this.process = child
    this.client = new LineClient(child, `probe in ${site}`)
    this.client.on('event', (m) => this.onEvent(m))
  }

  /** Resolves once the probe answers (the child is up). */
  async ready(): Promise<void> {
    await this.client.request({ op: 'ping' })
  }

  async listen(port: number, options: { echo?: boolean; host?: string } = {}): Promise<void> {
    await this.client.request({ op: 'listen', port, echo: options.echo ?? false, host: options.host })
  }

  /** An end-to-end connect: it counts only once the server's greeting arrived. */
  async connect(host: string, port: number, timeoutMs = 5000): Promise<ConnectResult> {
    const reply = await this.client.request({ op: 'connect', host, port, timeoutMs }, timeoutMs + 10_000)
    return reply.connected === true
      ? { connected: true, conn: Number(reply.conn) }
      : { connected: false, error: String(reply.error) }
  }

  async send(conn: number, line: string): Promise<void> {
    await this.client.request({ op: 'send', conn, line })
  }

  /** Round trips (ms, measured inside the site) of `count` lines against an echoing server. */
  async rtt(conn: number, count: number, timeoutMs = 30_000): Promise<number[]> {
    const reply = await this.client.request({ op: 'rtt', conn, count }, timeoutMs)
    return reply.samples as number[]
  }

  async close(conn: number): Promise<void> {
    await this.client.request({ op: 'close', conn })
  }

  /** Lines received on `conn` so far. */
  lines(conn: number): readonly string[] {
    return this.received.get(conn) ?? []
  }

  /** Waits for `line` on `conn` (already received counts). */
  waitForLine(conn: number, line: string, timeoutMs = 15_000): Promise<void> {
    return this.until(
      () => this.lines(conn).includes(line),
      `line ${JSON.stringify(line)} on ${conn}`,
      timeoutMs,
    )
  }

  /**
   * Resolves with the first connection accepted on `port` after this call (call it before the connect
   * it waits for: earlier connections are ignored).
   */
  async accepted(port: number, timeoutMs = 15_000): Promise<Accepted> {
    const seen = this.accepts.get(port)?.length ?? 0
    await this.until(
      () => (this.accepts.get(port)?.length ?? 0) > seen,
      `a connection on port ${port}`,
      timeoutMs,
    )
    return this.accepts.get(port)![seen]!
  }

  isClosed(conn: number): boolean {
    return this.closedConns.has(conn)
  }

  private onEvent(m: Message): void {
    const conn = Number(m.conn)
    if (m.event === 'line') {
      const list = this.received.get(conn) ?? []
      list.push(String(m.line))
      this.received.set(conn, list)
    } else if (m.event === 'accept') {
      const port = Number(m.port)
      this.accepts.set(port, [...(this.accepts.get(port) ?? []), { conn, remote: String(m.remote) }])
    } else if (m.event === 'closed') {
      this.closedConns.add(conn)
    }
    for (const w of [...this.wake]) w()
  }

  private until(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (done()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done()) return
        cleanup()
        resolve()
      }
      const onExit = () => {
        cleanup()
        reject(new Error(`probe in ${this.site} exited while waiting for ${what}`))
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`probe in ${this.site}: no ${what} within ${timeoutMs} ms`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        this.wake.delete(check)
        this.process.off('exit', onExit)
      }
      this.wake.add(check)
      this.process.once('exit', onExit)
    })
  }
}
