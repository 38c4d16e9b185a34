/**
 * A local mesh of real agents (the demo, tests, benchmarks): each `understudy agent` runs in its own process with its own data directory,
 * config file and site, on 127.0.0.1. The first agent is everyone's bootstrap peer; an agent restarted
 * keeps its data directory, identity and port.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ControlClient } from '../control/index.ts'

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url))

export interface AgentHandle {
  index: number
  site: string
  dir: string
  configPath: string
  peerId: string
  addrs: string[]
  socket: string
  process: ChildProcess
  client: ControlClient
  /** Where Prometheus scrapes it (with the `metrics` option). */
  metricsUrl: string | undefined
  /** Everything the process wrote, for failure messages. */
  output: string[]
  exited: Promise<number | null>
}

export interface ClusterOptions {
  size: number
  heartbeatMs?: number
  electionTimeoutMs?: number
  checkpointEveryEntries?: number
  logLevel?: string
  /** Serve Prometheus metrics on a free loopback port. */
  metrics?: boolean
  /** A member silent this long is replaced (default 5 minutes, as for real agents). */
  repairGraceMs?: number
  /** Hosts take replicas only while their owner is away (`<dataDir>/owner-active` absent). */
  idleOnly?: boolean
  /** Where the cluster's temp directory is made (default: the OS temp directory). */
  parentDir?: string
  /** Aborting it ends a start or restart under way (its processes killed); close() is still the caller's. */
  signal?: AbortSignal
}

export class Cluster {
  readonly root: string
  readonly agents: AgentHandle[] = []
  readonly #options: Required<Omit<ClusterOptions, 'parentDir' | 'signal'>>
  readonly #signal: AbortSignal | undefined
  #bootstrap: string | undefined

  private constructor(root: string, options: ClusterOptions) {
    this.root = root
    const { parentDir: _, signal, ...rest } = options
    this.#options = {
      heartbeatMs: 50,
      electionTimeoutMs: 500,
      checkpointEveryEntries: 50,
      logLevel: 'info',
      metrics: false,
      repairGraceMs: 300_000,
      idleOnly: false,
      ...rest,
    }
    this.#signal = signal
  }

  static async start(options: ClusterOptions): Promise<Cluster> {
    options.signal?.throwIfAborted()
    const root = await mkdtemp(join(options.parentDir ?? tmpdir(), 'understudy-cluster-'))
    const cluster = new Cluster(root, options)
    try {
      for (let i = 0; i < options.size; i++) {
        options.signal?.throwIfAborted()
        await cluster.#startAgent(i)
      }
      await cluster.waitForMesh()
    } catch (err) {
      await cluster.close()
      throw err
    }
    return cluster
  }

  agent(peerId: string): AgentHandle {
    const a = this.agents.find((x) => x.peerId === peerId)
    if (!a) throw new Error(`no agent ${peerId} in this cluster`)
    return a
  }

  /** Until every agent lists every other one as a candidate. */
  async waitForMesh(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const signal = this.#signal
    for (const a of this.agents) {
      for (;;) {
        signal?.throwIfAborted()
        const peers = await a.client.peers(signal ? { signal } : {}).catch((err: unknown) => {
          if (signal?.aborted) throw err
          return []
        })
        if (peers.length >= this.agents.length) break
        if (Date.now() > deadline)
          throw new Error(`agent ${a.index} sees ${peers.length} peers\n${this.dump()}`)
        await sleep(200, signal)
      }
    }
  }

  kill(agent: AgentHandle, signal: NodeJS.Signals = 'SIGKILL'): void {
    agent.process.kill(signal)
  }

  /** Starts a stopped or killed agent again with the same data directory and port. */
  async restart(agent: AgentHandle): Promise<AgentHandle> {
    if (agent.process.exitCode === null && agent.process.signalCode === null) {
      agent.process.kill('SIGKILL')
      await agent.exited
    }
    return this.#startAgent(agent.index)
  }

  async close(): Promise<void> {
    for (const a of this.agents) {
      if (a.process.exitCode === null && a.process.signalCode === null) {
        a.process.kill('SIGCONT')
        a.process.kill('SIGKILL')
      }
    }
    await Promise.all(this.agents.map((a) => a.exited))
    await rm(this.root, { recursive: true, force: true })
  }

  dump(): string {
    return this.agents
      .map(
        (a) =>
          `--- agent ${a.index} (${a.site})\n${a.output.slice(process.env.UNDERSTUDY_DUMP_ALL ? 0 : -60).join('')}`,
      )
      .join('\n')
  }

  async #startAgent(index: number): Promise<AgentHandle> {
    const previous = this.agents[index]
    const site = `site-${String.fromCharCode(97 + index)}`
    const dir = previous?.dir ?? join(this.root, `agent-${index}`)
    const configPath = join(this.root, `agent-${index}.json`)
    const port = previous ? portOf(previous.addrs) : 0
    const socket = join(this.root, `agent-${index}.sock`)
    const config = {
      dataDir: dir,
      listen: [`/ip4/127.0.0.1/tcp/${port}`],
      bootstrap: this.#bootstrap && index !== 0 ? [this.#bootstrap] : [],
      mdns: false,
      site,
      org: 'lab',
      control: { socket },
      replication: {
        heartbeatMs: this.#options.heartbeatMs,
        electionTimeoutMs: this.#options.electionTimeoutMs,
        checkpointEveryEntries: this.#options.checkpointEveryEntries,
        repairGraceMs: this.#options.repairGraceMs,
      },
      // A lab of one person's machines: every user's workloads are welcome.
      hostPolicy: { allowUsers: ['*'], schedule: { idleOnly: this.#options.idleOnly } },
      metrics: { enabled: this.#options.metrics, host: '127.0.0.1', port: 0 },
      log: { level: this.#options.logLevel, format: 'json' },
    }
    await writeFile(configPath, JSON.stringify(config, null, 2), { mode: 0o600 })
    const child = spawn(process.execPath, [MAIN, 'agent', '--config', configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, UNDERSTUDY_CONFIG: '' },
    })
    const output: string[] = []
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const ready = new Promise<{ peerId: string; addrs: string[]; metrics: string | null }>(
      (resolve, reject) => {
        let buffered = ''
        child.stderr!.on('data', (chunk: Buffer) => {
          output.push(chunk.toString())
          buffered += chunk.toString()
          for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
            const line = buffered.slice(0, nl)
            buffered = buffered.slice(nl + 1)
            if (line.startsWith('{"ready":true')) resolve(JSON.parse(line))
          }
        })
        child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()))
        void exited.then((code) =>
          reject(new Error(`agent ${index} exited (${code}) before it was ready\n${output.join('')}`)),
        )
      },
    )
    let info: Awaited<typeof ready>
    try {
      info = await withTimeout(ready, 30_000, `agent ${index} did not start`, this.#signal)
    } catch (err) {
      // Not in this.agents yet, so close() would not find it: it must not outlive its failed start.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
      throw err
    }
    const handle: AgentHandle = {
      index,
      site,
      dir,
      configPath,
      peerId: info.peerId,
      addrs: info.addrs,
      socket,
      metricsUrl: info.metrics ?? undefined,
      process: child,
      client: new ControlClient({ socketPath: socket }, { timeoutMs: 20_000 }),
      output,
      exited,
    }
    this.agents[index] = handle
    if (index === 0 && !this.#bootstrap) {
      const addr = info.addrs.find((a) => a.includes('/tcp/'))!
      this.#bootstrap = addr.includes('/p2p/') ? addr : `${addr}/p2p/${info.peerId}`
    }
    return handle
  }
}

function portOf(addrs: string[]): number {
  const m = addrs.map((a) => /\/tcp\/(\d+)/.exec(a)).find((x) => x !== null)
  return m ? Number(m[1]) : 0
}

/** Resolves after `ms`; rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export async function withTimeout<T>(
  p: Promise<T>,
  ms: number,
  what: string,
  signal?: AbortSignal,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)
        if (signal === undefined) return
        onAbort = () => reject(signal.reason)
        if (signal.aborted) onAbort()
        else signal.addEventListener('abort', onAbort, { once: true })
      }),
    ])
  } finally {
    clearTimeout(timer)
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
  }
}
