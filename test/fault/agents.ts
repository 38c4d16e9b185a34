/**
 * Real `understudy agent` processes, one per lab site (inside the site's network namespace), and the
 * process faults the nemesis plays on them: kill -9, SIGSTOP/SIGCONT, restart (same data directory,
 * identity and port) and clock jumps (UNDERSTUDY_CLOCK_SKEW_FILE). Identities are made before the first
 * start so that every agent can bootstrap from every other one through the lab's proxy addresses.
 */
import type { ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ControlClient } from '../../src/agent/control/index.ts'
import { sleep } from '../../src/demo/local-mesh.ts'
import { loadOrCreateIdentity } from '../../src/mesh/index.ts'
import type { Lab } from './lab/index.ts'

export { sleep }

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
const CLOCK_SKEW_ENV = 'UNDERSTUDY_CLOCK_SKEW_FILE'
/** Lines of output kept per agent for failure reports. */
const KEEP_LINES = 400

export type AgentState = 'running' | 'stopped' | 'down'

export interface LabAgent {
  site: string
  peerId: string
  dataDir: string
  configPath: string
  socket: string
  /** The clock-jump hook's file: the offset (ms) the guest's realtime clock gets on this agent. */
  skewFile: string
  skewMs: number
  client: ControlClient
  state: AgentState
  /** How many times it was started. */
  starts: number
  process: ChildProcess | undefined
  exited: Promise<void>
  /** The last lines it wrote (stdout and stderr). */
  output: string[]
}

export interface LabAgentsOptions {
  lab: Lab
  /** A directory of this run's own: data directories, configs, sockets. */
  root: string
  /** The agents' libp2p port inside each site (default 4001). */
  port?: number
  heartbeatMs?: number
  electionTimeoutMs?: number
  checkpointEveryEntries?: number
  logLevel?: string
  /** How long a start may take before it counts as failed (default 60 s: a loaded CI machine). */
  readyTimeoutMs?: number
}

export class LabAgents {
  readonly agents: LabAgent[]
  readonly #lab: Lab
  readonly #options: Required<Omit<LabAgentsOptions, 'lab' | 'root'>>
  readonly #announce = new Map<string, string>()

  private constructor(lab: Lab, agents: LabAgent[], options: LabAgentsOptions) {
    this.#lab = lab
    this.agents = agents
    this.#options = {
      port: 4001,
      heartbeatMs: 100,
      electionTimeoutMs: 1000,
      checkpointEveryEntries: 100,
      logLevel: 'warn',
      readyTimeoutMs: 60_000,
      ...definedOnly(options),
    }
  }

  /** Makes each site's identity and config, then starts every agent and waits for them to be ready. */
  static async start(options: LabAgentsOptions): Promise<LabAgents> {
    const { lab, root } = options
    const agents: LabAgent[] = []
    for (const site of lab.sites) {
      const dataDir = join(root, site)
      const identity = await loadOrCreateIdentity(dataDir)
      agents.push({
        site,
        peerId: identity.peerId.toString(),
        dataDir,
        configPath: join(root, `${site}.json`),
        socket: join(root, `${site}.sock`),
        skewFile: join(root, `${site}.skew`),
        skewMs: 0,
        client: new ControlClient({ socketPath: join(root, `${site}.sock`) }, { timeoutMs: 5000 }),
        state: 'down',
        starts: 0,
        process: undefined,
        exited: Promise.resolve(),
        output: [],
      })
    }
    const set = new LabAgents(lab, agents, options)
    try {
      for (const a of agents) {
        set.#announce.set(a.site, await lab.addressFor(a.site, set.#options.port))
      }
      for (const a of agents) await set.#writeConfig(a)
      await Promise.all(agents.map((a) => set.#spawn(a)))
    } catch (err) {
      set.killAll()
      throw err
    }
    return set
  }

  site(site: string): LabAgent {
    const a = this.agents.find((x) => x.site === site)
    if (!a) throw new RangeError(`no agent in site ${site}`)
    return a
  }

  siteOf(peerId: string): string | undefined {
    return this.agents.find((a) => a.peerId === peerId)?.site
  }

  /** Until every agent lists every agent (itself included) as a peer. */
  async waitForMesh(timeoutMs = 60_000, signal?: AbortSignal): Promise<void> {
    const deadline = performance.now() + timeoutMs
    for (const a of this.agents) {
      for (;;) {
        signal?.throwIfAborted()
        const peers = await a.client.peers({ signal }).catch(() => [])
        if (peers.length >= this.agents.length) break
        if (performance.now() > deadline) {
          throw new Error(`agent ${a.site} sees ${peers.length} peers after ${timeoutMs} ms\n${this.dump()}`)
        }
        await sleep(200, signal)
      }
    }
  }

  /** kill -9, and wait for the process to be gone. */
  async kill(site: string): Promise<void> {
    const a = this.site(site)
    if (a.state === 'down') return
    a.process?.kill('SIGKILL')
    await a.exited
  }

  stop(site: string): void {
    const a = this.site(site)
    if (a.state !== 'running') throw new Error(`cannot stop ${site}: it is ${a.state}`)
    a.process?.kill('SIGSTOP')
    a.state = 'stopped'
  }

  cont(site: string): void {
    const a = this.site(site)
    if (a.state !== 'stopped') return
    a.process?.kill('SIGCONT')
    a.state = 'running'
  }

  /** Starts a killed agent again: same data directory, identity and port. Resolves once it is ready. */
  async restart(site: string): Promise<void> {
    const a = this.site(site)
    if (a.state !== 'down') await this.kill(site)
    await this.#spawn(a)
  }

  /** Jumps the guest-visible wall clock of live recordings on `site` by `offsetMs` (cumulative). */
  async clockJump(site: string, offsetMs: number): Promise<number> {
    const a = this.site(site)
    a.skewMs += offsetMs
    await writeFile(a.skewFile, `${a.skewMs}\n`)
    return a.skewMs
  }

  /** Brings every agent back: stopped ones continued, dead ones restarted. */
  async reviveAll(): Promise<void> {
    for (const a of this.agents) {
      if (a.state === 'stopped') this.cont(a.site)
      if (a.state === 'down') await this.#spawn(a)
    }
  }

  /** Graceful shutdown (SIGTERM), so the stores are closed cleanly; SIGKILL after `graceMs`. */
  async shutdown(graceMs = 15_000): Promise<void> {
    await Promise.all(
      this.agents.map(async (a) => {
        if (a.state === 'down') return
        a.process?.kill('SIGCONT')
        a.process?.kill('SIGTERM')
        const timer = setTimeout(() => a.process?.kill('SIGKILL'), graceMs)
        await a.exited
        clearTimeout(timer)
      }),
    )
  }

  /** Kills every agent at once (synchronous: usable from clean-up paths). */
  killAll(): void {
    for (const a of this.agents) {
      if (a.state === 'down') continue
      a.process?.kill('SIGCONT')
      a.process?.kill('SIGKILL')
    }
  }

  dump(lines = 40): string {
    return this.agents
      .map(
        (a) =>
          `--- agent ${a.site} (${a.peerId}, ${a.state}, started ${a.starts}x)\n${a.output.slice(-lines).join('\n')}`,
      )
      .join('\n')
  }

  async #writeConfig(a: LabAgent): Promise<void> {
    const o = this.#options
    const config = {
      dataDir: a.dataDir,
      listen: [this.#lab.listenAddressFor(a.site, o.port)],
      announce: [this.#announce.get(a.site)!],
      bootstrap: this.agents
        .filter((b) => b !== a)
        .map((b) => `${this.#announce.get(b.site)}/p2p/${b.peerId}`),
      mdns: false,
      site: a.site,
      org: 'lab',
      control: { socket: a.socket },
      replication: {
        heartbeatMs: o.heartbeatMs,
        electionTimeoutMs: o.electionTimeoutMs,
        checkpointEveryEntries: o.checkpointEveryEntries,
      },
      // The lab's own machines: every user's workloads are welcome.
      hostPolicy: { allowUsers: ['*'] },
      log: { level: o.logLevel, format: 'json' },
    }
    await writeFile(a.configPath, JSON.stringify(config, null, 2), { mode: 0o600 })
  }

  async #spawn(a: LabAgent): Promise<void> {
    // Only this agent's settings: an UNDERSTUDY_* override from the caller's shell would change them.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UNDERSTUDY_')))
    const child = this.#lab.exec(a.site, process.execPath, [MAIN, 'agent', '--config', a.configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...env, [CLOCK_SKEW_ENV]: a.skewFile },
    })
    a.process = child
    a.state = 'running'
    a.starts++
    const start = a.starts
    a.exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        if (a.process === child) a.state = 'down'
        keep(a.output, `[${a.site} start ${start} exited: ${signal ?? code}]`)
        resolve()
      }),
    )
    const ready = new Promise<void>((resolve, reject) => {
      let buffered = ''
      const onData = (chunk: Buffer) => {
        buffered += chunk.toString()
        for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
          const line = buffered.slice(0, nl)
          buffered = buffered.slice(nl + 1)
          keep(a.output, line)
          if (line.startsWith('{"ready":true')) resolve()
        }
      }
      child.stderr!.on('data', onData)
      child.stdout!.on('data', onData)
      void a.exited.then(() =>
        reject(new Error(`agent ${a.site} exited before it was ready:\n${a.output.slice(-20).join('\n')}`)),
      )
    })
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        ready,
        new Promise((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Error(`agent ${a.site} was not ready within ${this.#options.readyTimeoutMs} ms`)),
            this.#options.readyTimeoutMs,
          )
        }),
      ])
    } catch (err) {
      child.kill('SIGKILL')
      await a.exited
      throw err
    } finally {
      clearTimeout(timer)
    }
  }
}

function keep(lines: string[], line: string): void {
  lines.push(line)
  if (lines.length > KEEP_LINES) lines.splice(0, lines.length - KEEP_LINES)
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
