/**
 * The lab: N sites, each a network namespace joined by a veth pair to a bridge in a router namespace,
 * on a private /24 of their own. Nothing is connected to the host's namespace and nothing is routed
 * (no default route anywhere, forwarding off in the router), so traffic never leaves the lab. Sites
 * reach each other only through the delay proxy in the router (see addressing.ts, delay-proxy.ts).
 *
 * Everything created is removed by close(), and also on SIGINT/SIGTERM, on an uncaught exception and
 * at process exit; cleanupStale() removes what a killed run (SIGKILL) left behind.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { createPrng } from '../../../src/agent/group/prng.ts'
import { chooseSubnet, type LabPlan, labName, ownerPid, planLab, type SitePlan } from './addressing.ts'
import { destroyNamespaces, IP, ipBatch, netnsList, nft, run } from './commands.ts'
import { type LinkSettings, validLink } from './delay-line.ts'
import { LineClient } from './json-lines.ts'
import { type Cut, faultRuleset, guardRuleset, isolateCuts, partitionCuts } from './nft-rules.ts'
import { Probe } from './probe-client.ts'

export interface LabOptions {
  /** How many sites (named s0, s1, ...) or their names (1-8 lowercase letters/digits). */
  sites: number | readonly string[]
  /** Seeds the subnet choice and the proxy's jitter/loss draws; random when omitted. */
  seed?: number
  /** Namespace name prefix (lowercase letters): namespaces are `<prefix>-<pid>-<hex>-<site>`. */
  prefix?: string
  /** Let sites reach each other's own addresses, bypassing the proxy (default false: refused). */
  allowDirect?: boolean
  /** Initial settings of every link. */
  link?: Partial<LinkSettings>
  /** How long the proxy waits for the far side of a connection before resetting the caller (ms). */
  connectTimeoutMs?: number
}

export interface Lab {
  readonly plan: LabPlan
  readonly sites: readonly string[]
  /** The site's own address (where its programs listen). */
  siteHost(site: string): string
  /** The proxy's alias standing for `site`: other sites reach `site` there. */
  proxyHost(site: string): string
  /** Where a site's programs listen (`/ip4/<site address>/tcp/<port>`). */
  listenAddressFor(site: string, port: number): string
  /**
   * Where other sites reach `site`'s `port` through the proxy (`/ip4/<alias>/tcp/<port>`): the address
   * an agent in `site` announces. Starts the forwarding on first use.
   */
  addressFor(site: string, port: number): Promise<string>
  /** Spawns `cmd` inside `site` (`ip netns exec`; the returned process is the command itself). */
  exec(site: string, cmd: string, args?: readonly string[], options?: SpawnOptions): ChildProcess
  /** Starts a probe (TCP client/server helper) inside `site`. */
  probe(site: string): Promise<Probe>
  /** Changes the link from `from` to `to` (one direction); omitted ends mean every site. */
  setLink(from: string | undefined, to: string | undefined, settings: Partial<LinkSettings>): Promise<void>
  /** Resets (TCP RST) the proxied connections between two sites, or all; returns how many. */
  resetConnections(from?: string, to?: string): Promise<number>
  /** Sites in different groups cannot talk; every site must be in one group. Adds to cuts in force. */
  partition(groups: readonly (readonly string[])[]): Promise<void>
  /** `site` can talk to no other site. */
  isolate(site: string): Promise<void>
  /** Packets from `from` to `to` are dropped; the other way still passes. */
  cutOneWay(from: string, to: string): Promise<void>
  /** Removes every cut (and the fault tables). */
  heal(): Promise<void>
  /** The directions cut now. */
  cuts(): readonly Cut[]
  close(): Promise<void>
}

/** Removes namespaces of earlier runs with this prefix whose creating process is gone; returns them. */
export function cleanupStale(prefix = 'us'): string[] {
  const stale = netnsList().filter((ns) => {
    const pid = ownerPid(ns, prefix)
    return pid !== undefined && pid !== process.pid && !alive(pid)
  })
  destroyNamespaces(stale)
  return stale
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

const PROXY = new URL('./delay-proxy.ts', import.meta.url).pathname
const PROBE = new URL('./probe.ts', import.meta.url).pathname

export async function createLab(options: LabOptions): Promise<Lab> {
  const prefix = options.prefix ?? 'us'
  if (!/^[a-z]{1,8}$/.test(prefix)) throw new RangeError(`lab prefix ${prefix}: use 1-8 lowercase letters`)
  const seed = options.seed ?? randomInt(2 ** 31)
  const names =
    typeof options.sites === 'number'
      ? Array.from({ length: options.sites }, (_, i) => `s${i}`)
      : options.sites
  const routes = JSON.parse(await run(IP, ['-j', '-4', 'route', 'show', 'table', 'all'])) as { dst: string }[]
  const rng = createPrng(seed ^ process.pid)
  const plan = planLab(
    labName(prefix, process.pid, rng.int(2 ** 32)),
    names,
    chooseSubnet(
      rng.int(2 ** 32),
      routes.map((r) => r.dst),
    ),
  )
  const lab = new NetnsLab(plan, options.allowDirect ?? false)
  try {
    await lab.build(seed, options)
  } catch (error) {
    await lab.close()
    throw error
  }
  return lab
}

class NetnsLab implements Lab {
  readonly plan: LabPlan
  readonly sites: readonly string[]
  private readonly allowDirect: boolean
  private readonly created: string[] = []
  private readonly children = new Set<ChildProcess>()
  private proxy: LineClient | undefined
  private proxyProcess: ChildProcess | undefined
  private current: Cut[] = []
  private closed = false
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.destroy()
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  }
  private readonly onExit = () => this.destroy()

  constructor(plan: LabPlan, allowDirect: boolean) {
    this.plan = plan
    this.sites = plan.sites.map((s) => s.name)
    this.allowDirect = allowDirect
    process.once('SIGINT', this.onSignal)
    process.once('SIGTERM', this.onSignal)
    process.on('exit', this.onExit)
    process.on('uncaughtExceptionMonitor', this.onExit)
  }

  async build(seed: number, options: LabOptions): Promise<void> {
    const { plan } = this
    const all = [plan.routerNamespace, ...plan.sites.map((s) => s.namespace)]
    // Recorded before they exist, so a failure half-way still removes what was made.
    this.created.push(...all)
    await ipBatch(
      undefined,
      all.map((ns) => `netns add ${ns}`),
    )
    await ipBatch(plan.routerNamespace, [
      'link set lo up',
      'link add br0 type bridge',
      `addr add ${plan.routerHost}/24 dev br0`,
      ...plan.sites.map((s) => `addr add ${s.proxyHost}/32 dev br0`),
      ...plan.sites.flatMap((s, i) => [
        `link add v${i} type veth peer name eth0 netns ${s.namespace}`,
        `link set v${i} master br0`,
        `link set v${i} up`,
      ]),
      'link set br0 up',
    ])
    await Promise.all(
      plan.sites.map(async (s) => {
        await ipBatch(s.namespace, ['link set lo up', `addr add ${s.host}/24 dev eth0`, 'link set eth0 up'])
        await nft(s.namespace, guardRuleset(s, plan.sites, this.allowDirect))
      }),
    )
    this.proxyProcess = this.spawnIn(plan.routerNamespace, process.execPath, [PROXY], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    this.proxy = new LineClient(this.proxyProcess, 'delay proxy')
    await this.proxy.request({
      op: 'init',
      seed,
      connectTimeoutMs: options.connectTimeoutMs,
      sites: plan.sites.map(({ name, host, proxyHost }) => ({ name, host, proxyHost })),
    })
    if (options.link) await this.setLink(undefined, undefined, options.link)
  }

  siteHost(site: string): string {
    return this.site(site).host
  }

  proxyHost(site: string): string {
    return this.site(site).proxyHost
  }

  listenAddressFor(site: string, port: number): string {
    return `/ip4/${this.site(site).host}/tcp/${port}`
  }

  async addressFor(site: string, port: number): Promise<string> {
    const reply = await this.proxyClient().request({ op: 'forward', site: this.site(site).name, port })
    return `/ip4/${String(reply.host)}/tcp/${Number(reply.port)}`
  }

  exec(site: string, cmd: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    return this.spawnIn(this.site(site).namespace, cmd, args, options)
  }

  async probe(site: string): Promise<Probe> {
    const child = this.exec(site, process.execPath, [PROBE], { stdio: ['pipe', 'pipe', 'pipe'] })
    const probe = new Probe(site, child)
    await probe.ready()
    return probe
  }

  async setLink(
    from: string | undefined,
    to: string | undefined,
    settings: Partial<LinkSettings>,
  ): Promise<void> {
    validLink(settings)
    await this.proxyClient().request({
      op: 'link',
      from: from === undefined ? undefined : this.site(from).name,
      to: to === undefined ? undefined : this.site(to).name,
      settings,
    })
  }

  async resetConnections(from?: string, to?: string): Promise<number> {
    const reply = await this.proxyClient().request({ op: 'reset', from, to })
    return Number(reply.count)
  }

  partition(groups: readonly (readonly string[])[]): Promise<void> {
    return this.applyCuts([...this.current, ...partitionCuts(groups, this.sites)])
  }

  isolate(site: string): Promise<void> {
    return this.applyCuts([...this.current, ...isolateCuts(site, this.sites)])
  }

  cutOneWay(from: string, to: string): Promise<void> {
    this.site(from)
    this.site(to)
    if (from === to) throw new RangeError('cutOneWay: from and to are the same site')
    return this.applyCuts([...this.current, { from, to }])
  }

  heal(): Promise<void> {
    return this.applyCuts([])
  }

  cuts(): readonly Cut[] {
    return [...this.current]
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const exits = [...this.children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve()
          else child.once('exit', () => resolve())
        }),
    )
    this.destroy()
    await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 10_000).unref())])
  }

  private async applyCuts(next: readonly Cut[]): Promise<void> {
    const unique = [...new Map(next.map((c) => [`${c.from}>${c.to}`, c])).values()]
    if (this.closed) throw new Error('the lab is closed')
    await Promise.all(this.plan.sites.map((s) => nft(s.namespace, faultRuleset(s, this.plan.sites, unique))))
    this.current = unique
  }

  private site(name: string): SitePlan {
    const site = this.plan.sites.find((s) => s.name === name)
    if (!site) throw new RangeError(`no site named ${name} in this lab (sites: ${this.sites.join(', ')})`)
    return site
  }

  private proxyClient(): LineClient {
    if (!this.proxy || this.closed) throw new Error('the lab is closed')
    return this.proxy
  }

  private spawnIn(
    namespace: string,
    cmd: string,
    args: readonly string[],
    options: SpawnOptions,
  ): ChildProcess {
    if (this.closed) throw new Error('the lab is closed')
    const child = spawn(IP, ['netns', 'exec', namespace, cmd, ...args], options)
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    child.on('error', () => {}) // reported through 'exit' and the caller's own listeners
    return child
  }

  /** Synchronous, so it can run from signal and exit handlers; safe to call twice. */
  private destroy(): void {
    this.closed = true
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
    process.off('exit', this.onExit)
    process.off('uncaughtExceptionMonitor', this.onExit)
    for (const child of this.children) child.kill('SIGKILL')
    destroyNamespaces(this.created.splice(0))
  }
}
