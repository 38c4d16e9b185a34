/**
 * The conductor's handle on one agent process: spawns it with an IPC channel,
 * waits for it to listen, asks it typed requests, and stops it for sure.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { DemoError } from './demo-error.ts'
import type { AgentAnswer, AgentOp, AgentOps, AgentReady } from './messages.ts'

export interface AgentSpec {
  /** A name for messages: 'agent-a'. */
  name: string
  site: string
  dataDir: string
  /** Multiaddr of the agent to bootstrap from. */
  bootstrap?: string
}

const ENTRY = new URL('./agent-main.ts', import.meta.url).pathname
/** How much of an agent's stderr a failure message quotes. */
const STDERR_TAIL = 2000

interface Pending {
  resolve(value: unknown): void
  reject(err: Error): void
}

export class AgentProcess {
  readonly name: string
  readonly site: string
  readonly dataDir: string
  readonly child: ChildProcess
  readonly pid: number
  peerId = ''
  addrs: string[] = []
  identityCreated = false
  readonly #pending = new Map<number, Pending>()
  readonly #exit: Promise<void>
  #nextId = 1
  #stderr = ''
  #exitReason: string | undefined

  private constructor(spec: AgentSpec) {
    this.name = spec.name
    this.site = spec.site
    this.dataDir = spec.dataDir
    // process.execPath is the Node 24 running the conductor: a signal reaches the agent itself.
    this.child = spawn(
      process.execPath,
      [ENTRY, spec.dataDir, spec.site, ...(spec.bootstrap !== undefined ? [spec.bootstrap] : [])],
      { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
    )
    if (this.child.pid === undefined) throw new DemoError(`could not start ${spec.name}`)
    this.pid = this.child.pid
    // A failed spawn or IPC error: the exit (or the pending calls' send callbacks) reports it.
    this.child.on('error', (err) => {
      this.#stderr += `\n${err.message}`
    })
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-STDERR_TAIL)
    })
    this.#exit = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.#exitReason = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`
        const err = this.#failure(`${this.name} (pid ${this.pid}) ${this.#exitReason}`)
        for (const pending of this.#pending.values()) pending.reject(err)
        this.#pending.clear()
        resolve()
      })
    })
    this.child.on('message', (message: AgentAnswer | AgentReady) => {
      if ('type' in message) return
      const pending = this.#pending.get(message.id)
      if (pending === undefined) return
      this.#pending.delete(message.id)
      if (message.ok) pending.resolve(message.result)
      else pending.reject(new DemoError(`${this.name}: ${message.error}`))
    })
  }

  /** Starts the agent process; `ready` then waits until its node listens. */
  static start(spec: AgentSpec): AgentProcess {
    return new AgentProcess(spec)
  }

  /** Resolves once the agent's node listens (its peer id and addresses are then known). */
  async ready(signal: AbortSignal): Promise<void> {
    const ready = await this.#race<AgentReady>(
      new Promise((resolve) => {
        const onMessage = (message: AgentAnswer | AgentReady) => {
          if (!('type' in message)) return
          this.child.off('message', onMessage)
          resolve(message)
        }
        this.child.on('message', onMessage)
      }),
      signal,
    )
    this.peerId = ready.peerId
    this.addrs = ready.addrs
    this.identityCreated = ready.identityCreated
  }

  get running(): boolean {
    return this.#exitReason === undefined
  }

  /** Asks the agent to do `op`; rejects if it fails, exits, or `signal` aborts. */
  call<K extends AgentOp>(
    op: K,
    args: AgentOps[K]['args'],
    signal: AbortSignal,
  ): Promise<AgentOps[K]['result']> {
    if (!this.running) return Promise.reject(this.#failure(`${this.name} ${this.#exitReason}`))
    const id = this.#nextId++
    const answer = new Promise<AgentOps[K]['result']>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
    })
    this.child.send({ id, op, args }, (err) => {
      if (err) this.#pending.get(id)?.reject(this.#failure(`${this.name}: ${err.message}`))
    })
    return this.#race(answer, signal).finally(() => this.#pending.delete(id))
  }

  /** SIGKILL, as a machine that loses power: resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL')
    await this.#exit
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await this.#exit
    clearTimeout(timer)
  }

  #race<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason)
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      const exited = this.#exit.then(() => {
        throw this.#failure(`${this.name} (pid ${this.pid}) ${this.#exitReason}`)
      })
      Promise.race([work, exited])
        .then(resolve, reject)
        .finally(() => signal.removeEventListener('abort', onAbort))
    })
  }

  #failure(what: string): DemoError {
    const tail = this.#stderr.trim()
    return new DemoError(tail === '' ? what : `${what}; its stderr ends with:\n${tail}`)
  }
}
