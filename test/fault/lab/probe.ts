/**
 * A probe: a child program the lab runs inside a site to make and serve TCP connections there (the
 * test process itself lives outside every site). Steered by JSON lines (see json-lines.ts); the
 * parent's side is probe-client.ts. TCP payloads are text lines; a server greets each connection with
 * `hi`, so a connect counts only once the far end answered (a proxy accepting is not enough).
 *
 * Requests: ping; listen {port, host?, echo?}; connect {host, port, timeoutMs}; send {conn, line};
 * rtt {conn, count} (against an echoing server, measured here); close {conn}.
 * Events: accept {conn, port, remote}; line {conn, line}; closed {conn, error?}.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { type Message, serveLines } from './json-lines.ts'

const servers = new Map<number, Server>()
const conns = new Map<number, Socket>()
const waiters = new Map<number, (line: string) => void>()
let nextConn = 1

const { emit } = serveLines(async (m) => {
  switch (m.op) {
    case 'ping':
      return {}
    case 'listen':
      return listen(Number(m.port), String(m.host ?? '0.0.0.0'), m.echo === true)
    case 'connect':
      return dial(String(m.host), Number(m.port), Number(m.timeoutMs ?? 5000))
    case 'send':
      socketOf(m.conn).write(`${String(m.line)}\n`)
      return {}
    case 'rtt':
      return { samples: await rtt(Number(m.conn), Number(m.count ?? 5)) }
    case 'close':
      socketOf(m.conn).end()
      return {}
    default:
      throw new Error(`unknown request ${String(m.op)}`)
  }
})

function socketOf(conn: unknown): Socket {
  const socket = conns.get(Number(conn))
  if (!socket) throw new Error(`no connection ${String(conn)}`)
  return socket
}

/** Registers a connection: its lines become events (or answer an rtt in progress). */
function track(socket: Socket, echo: boolean): number {
  const conn = nextConn++
  conns.set(conn, socket)
  const reader = createInterface({ input: socket })
  reader.on('error', () => {}) // readline repeats the socket's error (a reset); 'close' reports it
  reader.on('line', (line) => {
    if (echo) socket.write(`${line}\n`)
    const waiter = waiters.get(conn)
    if (waiter) waiter(line)
    else emit({ event: 'line', conn, line })
  })
  socket.on('error', () => {})
  socket.on('close', (hadError) => {
    conns.delete(conn)
    emit({ event: 'closed', conn, error: hadError })
  })
  return conn
}

async function listen(port: number, host: string, echo: boolean): Promise<Message> {
  if (servers.has(port)) return { port }
  const server = createServer((socket) => {
    const conn = track(socket, echo)
    socket.write('hi\n')
    emit({ event: 'accept', conn, port, remote: socket.remoteAddress })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host }, () => resolve())
  })
  servers.set(port, server)
  return { port }
}

async function dial(host: string, port: number, timeoutMs: number): Promise<Message> {
  const socket = connect({ host, port })
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timeout')), timeoutMs)
      const fail = (error: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        reject(new Error(error.code ?? error.message))
      }
      socket.once('error', fail)
      socket.once('close', () => fail(new Error('closed before the greeting')))
      socket.once('data', (chunk: Buffer) => {
        clearTimeout(timer)
        socket.off('error', fail)
        socket.pause() // until track's reader takes over
        // The greeting is "hi\n"; anything after it belongs to the stream.
        if (chunk.length > 3) socket.unshift(chunk.subarray(3))
        resolve()
      })
    })
  } catch (error) {
    socket.destroy()
    return { connected: false, error: (error as Error).message }
  }
  socket.removeAllListeners('close')
  return { connected: true, conn: track(socket, false) }
}

async function rtt(conn: number, count: number): Promise<number[]> {
  const socket = socketOf(conn)
  const samples: number[] = []
  try {
    for (let i = 0; i < count; i++) {
      const line = `rtt ${i}`
      const start = performance.now()
      const got = new Promise<string>((resolve) => waiters.set(conn, resolve))
      socket.write(`${line}\n`)
      if ((await got) !== line) throw new Error('the echo server answered out of order')
      samples.push(performance.now() - start)
    }
  } finally {
    waiters.delete(conn)
  }
  return samples
}
