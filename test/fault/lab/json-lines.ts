/**
 * Request/response over JSON lines on a child's stdin/stdout: how the lab steers its helper processes
 * (the delay proxy in the router namespace, the probes in the sites). Lines without an `id` are events.
 */
import type { ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { createInterface } from 'node:readline'

export type Message = Record<string, unknown>

interface Pending {
  resolve: (reply: Message) => void
  reject: (error: Error) => void
}

/** The parent's side: `request` sends `{id, ...}` and resolves with the child's `{id, ok: true, ...}`. */
export class LineClient extends EventEmitter<{ event: [Message] }> {
  private readonly child: ChildProcess
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private exitError: Error | undefined
  private stderr = ''

  constructor(child: ChildProcess, name: string) {
    super()
    this.child = child
    if (child.stdout === null || child.stdin === null) throw new Error(`${name}: spawn it with piped stdio`)
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000)
    })
    child.stdin.on('error', () => {}) // a dead child's stdin; the exit handler reports it
    createInterface({ input: child.stdout }).on('line', (line) => this.onLine(line))
    child.once('exit', (code, signal) => {
      this.exitError = new Error(`${name} exited (${signal ?? code})${this.stderr ? `: ${this.stderr}` : ''}`)
      for (const p of this.pending.values()) p.reject(this.exitError)
      this.pending.clear()
    })
  }

  request(message: Message, timeoutMs = 30_000): Promise<Message> {
    if (this.exitError) return Promise.reject(this.exitError)
    const id = this.nextId++
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`no answer to ${String(message.op)} within ${timeoutMs} ms`))
      }, timeoutMs)
      const settle = { resolve, reject }
      this.pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer)
          settle.resolve(reply)
        },
        reject: (error) => {
          clearTimeout(timer)
          settle.reject(error)
        },
      })
      this.child.stdin?.write(`${JSON.stringify({ ...message, id })}\n`)
    })
  }

  private onLine(line: string): void {
    let message: Message
    try {
      message = JSON.parse(line) as Message
    } catch {
      return // a stray line (a warning) is not part of the protocol
    }
    if (typeof message.id !== 'number') {
      this.emit('event', message)
      return
    }
    const p = this.pending.get(message.id)
    if (!p) return
    this.pending.delete(message.id)
    if (message.ok === true) p.resolve(message)
    else p.reject(new Error(String(message.error ?? 'request failed')))
  }
}

/**
 * The child's side: answers each request line with the handler's result; exits when stdin closes, so a
 * helper never outlives the lab that started it.
 */
export function serveLines(handler: (message: Message) => Promise<Message | undefined>): {
  emit: (event: Message) => void
} {
  const write = (message: Message) => process.stdout.write(`${JSON.stringify(message)}\n`)
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      let message: Message
      try {
        message = JSON.parse(line) as Message
      } catch {
        write({ event: 'error', error: `not JSON: ${line.slice(0, 80)}` })
        return
      }
      handler(message).then(
        (reply) => write({ ...reply, id: message.id, ok: true }),
        (error: unknown) =>
          write({ id: message.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
      )
    })
    .on('close', () => process.exit(0))
  return { emit: write }
}
