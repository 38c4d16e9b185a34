/**
 * `understudy agent`: one desktop's daemon. It owns the data directory, the store, the libp2p node and
 * the control API, and runs one Replica per workload it hosts. Startup order: data dir → identity →
 * store → mesh → hosted replicas (restarted from the store) → control API. Shutdown runs it backwards
 * and loses nothing: every acknowledged entry and vote is already in level.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, freemem, totalmem } from 'node:os'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { ControlAddress, ControlEventBody, FailoverInfo } from '../control/api-types.ts'
import {
  ConflictError,
  ForbiddenError,
  GroupStateError,
  NotPrimaryError,
  UnderstudyError,
  UnknownWorkloadError,
} from '../errors/index.ts'
import { type Candidate, createMeshNode, loadOrCreateIdentity, type MeshNode } from '../mesh/index.ts'
import type { Manifest, WorkloadFacts } from '../policy/index.ts'
import { PAUSABLE_WASI_IMPORTS } from '../replay/session.ts'
import { instrumentInWorker } from '../replay/wasm/index.ts'
import { AgentPolicy } from './agent-policy.ts'
import type { AgentConfig } from './config/index.ts'
import { dataDirLayout, prepareDataDir } from './config/index.ts'
import { ControlServer, EventHub } from './control/index.ts'
import { AgentHandlers } from './control-handlers.ts'
import type { Message } from './group/types.ts'
import { decodeMessage, encodeMessage } from './group/wire.ts'
import type { Logger } from './observability/index.ts'
import {
  createMetrics,
  type MetricsServer,
  serveMetrics,
  silentLogger,
  type UnderstudyMetrics,
} from './observability/index.ts'
import { OwnerActivity } from './owner-activity.ts'
import { hostPolicyFromConfig } from './policy-gate.ts'
import { Replica } from './replica/replica.ts'
import { type ReplicaEventContext, replicaMetrics, reportReplicaEvent } from './replica-events.ts'
import { AgentStore, type GroupStorage } from './store/index.ts'
import { candidateStatusOf } from './workload/candidates.ts'
import { type CompactionActions, PrimaryCompactor } from './workload/compaction.ts'
import {
  checkpointAnswerSchema,
  checkpointRequestSchema,
  decodeJson,
  EVENTS_TOPIC,
  encodeJson,
  failoverRequestSchema,
  GROUP_TOPIC,
  hostRequestSchema,
  logsRequestSchema,
  nameRequestSchema,
  type ReplicaReport,
  replicaReportSchema,
  type SharedEvent,
  sharedEventSchema,
  stdinRequestSchema,
  stopRequestSchema,
  TOPICS,
  tagGroupMessage,
  untagGroupMessage,
} from './workload/peer-rpc.ts'
import { type RepairActions, RepairMonitor } from './workload/repair.ts'
import { imageHashOf, type WorkloadSpec, workloadSpecSchema } from './workload/spec.ts'

export const AGENT_VERSION = '0.2.0'

/** Workload events every member and the placing agent publish, wherever they happened. */
const SHARED_EVENTS = new Set<ControlEventBody['type']>(['promotion', 'step-down', 'divergence', 'repair'])

export interface AgentOptions {
  logger?: Logger | undefined
  /** Aborting it shuts the agent down. */
  signal?: AbortSignal | undefined
}

/** A replica this agent hosts. */
export interface Hosted {
  /** Its members follow the group's committed configuration (repair changes them). */
  spec: WorkloadSpec
  /** The verified manifest: its data policy governs where this workload's entries may go. */
  manifest: Manifest
  replica: Replica
  lastFailover: FailoverInfo | undefined
  /** Replaces members gone for longer than the grace period, while this replica is primary. */
  repair: RepairMonitor
  /** On the primary: adopts a checkpoint a majority holds and truncates the log before it. */
  compactor: PrimaryCompactor
  storage: GroupStorage
}

export class Agent {
  readonly config: AgentConfig
  readonly log: Logger
  readonly events: EventHub
  readonly policy: AgentPolicy
  readonly startedAt = Date.now()
  readonly node: MeshNode
  readonly store: AgentStore
  readonly peerId: string
  readonly hosted = new Map<string, Hosted>()
  /** Workloads this agent placed but does not host (it still answers ps/stop/logs for them). */
  readonly placed = new Map<string, WorkloadSpec>()
  #control: ControlServer | undefined
  #closing: Promise<void> | undefined

  #refresh: NodeJS.Timeout | undefined
  #repairTimer: NodeJS.Timeout | undefined
  #ownerTimer: NodeJS.Timeout | undefined
  readonly #owner: OwnerActivity
  #ownerWasActive = false
  #handingOff = false
  readonly metrics: UnderstudyMetrics
  #metricsServer: MetricsServer | undefined
  readonly #shutdown = new AbortController()

  private constructor(
    config: AgentConfig,
    node: MeshNode,
    store: AgentStore,
    log: Logger,
    events: EventHub,
    policy: AgentPolicy,
    metrics: UnderstudyMetrics,
  ) {
    this.config = config
    this.metrics = metrics
    this.#owner = new OwnerActivity(config.dataDir)
    this.events = events
    this.policy = policy
    this.node = node
    this.store = store
    this.log = log
    this.peerId = node.peerId.toString()
  }

  static async start(config: AgentConfig, options: AgentOptions = {}): Promise<Agent> {
    const log = options.logger ?? silentLogger()
    const layout = dataDirLayout(config.dataDir)
    await prepareDataDir(config.dataDir)
    const identity = await loadOrCreateIdentity(config.dataDir)
    const store = await AgentStore.open({ path: layout.store })
    let agent: Agent | undefined
    let node: MeshNode
    const events = new EventHub()
    const metrics = createMetrics({ version: AGENT_VERSION })
    const owner = new OwnerActivity(config.dataDir)
    let policy: AgentPolicy
    try {
      policy = await AgentPolicy.open({
        config,
        peerId: identity.peerId.toString(),
        audit: store.audit,
        events,
        hostedCount: () => agent?.hosted.size ?? 0,
        ownerIdle: () => !owner.active(),
      })
      const gater = policy.gate.connectionGater()
      node = await createMeshNode({
        connectionGater: (peer) => gater(peer),
        metrics: prometheusMetrics({ registry: metrics.registry, collectDefaultMetrics: false }),
        // Group traffic must come back soon after a partition heals: redial within a few heartbeats,
        // and give up on a dial the partition swallowed before an election would.
        messenger: {
          reconnectMinDelay: config.replication.heartbeatMs,
          reconnectMaxDelay: Math.max(500, 5 * config.replication.heartbeatMs),
          openTimeout: Math.max(1000, 2 * config.replication.electionTimeoutMs),
        },
        privateKey: identity.privateKey,
        listen: [...config.listen],
        ...(config.announce.length > 0 ? { announce: [...config.announce] } : {}),
        bootstrap: [...config.bootstrap],
        bootstrapRetryInterval: 1000,
        mdns: config.mdns,
        dhtMode: config.dhtMode,
        protocolPrefix: config.protocolPrefix,
        version: `understudy/${AGENT_VERSION}`,
        status: {
          advertiseRetry: 500,
          advertiseSettle: 2000,
          getStatus: () => agent!.#peerStatus(),
        },
      })
    } catch (err) {
      await store.close()
      throw err
    }
    agent = new Agent(config, node, store, log, events, policy, metrics)
    try {
      agent.#serveMesh()
      events.subscribe((event) => {
        if (event.type === 'policy-refusal') {
          metrics.policyRefusals.inc({ reason: event.action })
          log.warn({ ...event }, 'policy refused')
        }
      })
      if (config.metrics.enabled) {
        agent.#metricsServer = await serveMetrics({
          registry: metrics.registry,
          host: config.metrics.host,
          port: config.metrics.port,
          signal: agent.#shutdown.signal,
          logger: log,
        })
      }
      agent.#refresh = setInterval(() => void agent!.candidates().catch(() => {}), 10_000)
      void agent.candidates().catch(() => {})
      agent.#ownerTimer = setInterval(() => void agent!.#watchHostLimits(), 1000)
      agent.#repairTimer = setInterval(
        () => {
          for (const h of agent!.hosted.values()) {
            void h.repair.check()
            void h.compactor
              .check()
              .catch((err: unknown) =>
                log.warn({ err, workload: h.spec.name }, 'could not compact the primary log yet'),
              )
          }
        },
        Math.max(100, Math.min(1000, config.replication.repairGraceMs / 4)),
      )
      await agent.#restoreHosted()
      agent.#control = await ControlServer.start({
        listen: await agent.#controlAddress(),
        handlers: new AgentHandlers(agent),
        events: agent.events,
        heartbeatMs: 5000,
        onError: (error, request) => log.error({ err: error, ...request }, 'control API error'),
      })
    } catch (err) {
      await agent.stop()
      throw err
    }
    options.signal?.addEventListener('abort', () => void agent.stop(), { once: true })
    log.info(
      {
        peerId: agent.peerId,
        addrs: node.getMultiaddrs().map(String),
        control: agent.controlAddress,
        // Workloads started here without a manifest are owned (and signed) by this user: other hosts'
        // hostPolicy.allowUsers must name it for them to take replicas.
        adminUser: policy.adminUserId,
      },
      'agent started',
    )
    return agent
  }

  get controlAddress(): ControlAddress | undefined {
    return this.#control?.address
  }

  get site(): string {
    return this.config.site
  }

  /** Graceful: stop answering, stop the replicas (their logs are durable), leave the mesh, close the store. */
  stop(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#refresh)
      clearInterval(this.#repairTimer)
      clearInterval(this.#ownerTimer)
      this.#shutdown.abort()
      await this.#control?.close()
      await Promise.allSettled([...this.hosted.values()].map((h) => h.replica.close()))
      await this.node.stop()
      await this.store.close()
      this.log.info('agent stopped')
    })()
    return this.#closing
  }

  /** Other agents and what they offer; what policy judges them by is refreshed as a side effect. */
  async candidates(options: { timeout?: number; signal?: AbortSignal } = {}): Promise<Candidate[]> {
    const found = await this.node.services.status.listCandidates({
      timeout: options.timeout ?? 2500,
      ...(options.signal ? { signal: options.signal } : {}),
    })
    this.policy.learn(found)
    return found
  }

  publish(body: ControlEventBody): void {
    this.events.publish(body)
    this.#share(body)
  }

  /**
   * Failovers, step-downs, divergences and repairs happen on one member; the other members and the
   * placing agent publish them too, so a TUI or `understudy` watching any of them sees the group.
   */
  #share(body: ControlEventBody): void {
    if (!('workload' in body) || body.workload === undefined) return
    if (!SHARED_EVENTS.has(body.type)) return
    const spec = this.spec(body.workload)
    if (!spec) return
    const bytes = encodeJson(body)
    for (const peer of new Set([...spec.members, spec.placedBy])) {
      if (peer === this.peerId) continue
      try {
        this.node.services.messenger.send(peerIdFromString(peer), EVENTS_TOPIC, bytes)
      } catch (err) {
        this.log.debug({ err, peer }, 'could not share a workload event')
      }
    }
  }

  /** A workload event from another agent: only about a workload we know, from one of its members. */
  #onSharedEvent(from: PeerId, bytes: Uint8Array): void {
    let event: SharedEvent
    try {
      event = decodeJson(sharedEventSchema, bytes, 'shared workload event')
    } catch (err) {
      this.log.warn({ err, from: from.toString() }, 'dropped a malformed workload event')
      return
    }
    const spec = this.spec(event.workload)
    const sender = from.toString()
    if (
      !spec?.members.includes(sender) ||
      ('peerId' in event && event.type !== 'repair' && event.peerId !== sender)
    ) {
      this.log.warn(
        { from: sender, workload: event.workload },
        'refused a workload event from outside its group',
      )
      return
    }
    // Published here only: sharing it again would echo it around the group.
    this.events.publish(event as ControlEventBody)
  }

  // ---- hosting -------------------------------------------------------------------------------------

  /** Hosts a replica of `spec` here (a new group member, or one restarting from the store). */
  async host(
    spec: WorkloadSpec,
    image: Uint8Array,
    options: { campaign?: boolean; from?: string; joining?: boolean } = {},
  ): Promise<Hosted> {
    const existing = this.hosted.get(spec.name)
    if (existing) {
      if (existing.spec.imageHash !== spec.imageHash || existing.spec.createdAt !== spec.createdAt) {
        throw new ConflictError(`a different workload named ${spec.name} is already hosted here`)
      }
      return existing
    }
    if (!spec.members.includes(this.peerId)) {
      throw new ConflictError(`this agent (${this.peerId}) is not a member of ${spec.name}'s group`)
    }
    if (imageHashOf(image) !== spec.imageHash) {
      throw new ConflictError(`the module sent for ${spec.name} does not match its hash ${spec.imageHash}`)
    }
    // Signed by its owner, asking what was asked, and this host's policy lets it hold the data.
    const manifest = await this.policy.admitReplica(spec.manifest, spec, options.from ?? this.peerId)
    await this.#saveImage(spec.imageHash, image)
    await this.store.manifests.put(spec.name, new Uint8Array(0), { spec })
    await this.#learnMembers(spec)
    return this.#startReplica(spec, manifest, image, options)
  }

  /**
   * Checks and instruments a module off the event loop (a stalled agent misses its heartbeats), so
   * that starting a replica of it later is quick. Throws InvalidModuleError for a module we refuse.
   */
  async prepareImage(image: Uint8Array): Promise<void> {
    await instrumentInWorker(image, { cacheDir: this.#wasmCache, pausableImports: PAUSABLE_WASI_IMPORTS })
  }

  get #wasmCache(): string {
    return dataDirLayout(this.config.dataDir).wasmCache
  }

  async #startReplica(
    spec: WorkloadSpec,
    manifest: Manifest,
    image: Uint8Array,
    options: { campaign?: boolean; joining?: boolean },
  ): Promise<Hosted> {
    const cacheDir = this.#wasmCache
    await this.prepareImage(image)
    const storage = await this.store.openGroup(spec.name)
    const loaded = await storage.load()
    const checkpointData = loaded.checkpoint
      ? await storage.readCheckpointData(loaded.checkpoint.seq)
      : undefined
    const { heartbeatMs, electionTimeoutMs, checkpointEveryEntries } = this.config.replication
    const hosted: Hosted = {
      spec,
      manifest,
      lastFailover: undefined,
      replica: undefined as unknown as Replica,
      repair: undefined as unknown as RepairMonitor,
      compactor: undefined as unknown as PrimaryCompactor,
      storage,
    }
    hosted.replica = new Replica({
      workload: spec.name,
      self: this.peerId,
      members: spec.members,
      storage,
      loaded,
      image,
      spec: { args: spec.args, env: spec.env },
      timing: { heartbeatMs, electionTimeoutMs, checkpointEveryEntries },
      cacheDir,
      send: (to, message) => this.#sendGroupMessage(spec.name, to, message),
      metrics: replicaMetrics(this.metrics, spec.name),
      checkpointData,
      joining: options.joining,
      fetchCheckpoint: (from, seq) => this.#fetchCheckpoint(hosted.spec, from, seq),
      onEvent: (event) => reportReplicaEvent(this.#eventContext, hosted, event),
    })
    hosted.repair = new RepairMonitor(hosted.replica, spec.replicasWanted, this.#repairActions(hosted, image))
    hosted.compactor = new PrimaryCompactor(hosted.replica, this.#compactionActions(hosted))
    this.hosted.set(spec.name, hosted)
    hosted.replica.start({ campaign: options.campaign ?? false })
    this.log.info({ workload: spec.name, members: spec.members }, 'replica started')
    return hosted
  }

  /** Stops and forgets the replica of `name` here; its stored log goes too unless `keepData`. */
  async unhost(name: string, keepData: boolean): Promise<boolean> {
    const hosted = this.hosted.get(name)
    if (!hosted) return false
    this.hosted.delete(name)
    await hosted.replica.close()
    if (!keepData) {
      await this.store.deleteGroup(name)
      await this.store.manifests.delete(name)
    }
    this.publish({ type: 'workload', workload: name, state: 'stopped', reason: 'stopped by request' })
    return true
  }

  #repairActions(hosted: Hosted, image: Uint8Array): RepairActions {
    const name = hosted.spec.name
    return {
      now: Date.now,
      graceMs: this.config.replication.repairGraceMs,
      place: async (exclude, keep) => {
        const all = await this.candidates()
        const candidates = all.filter((c) => !exclude.includes(c.peerId.toString()))
        const sites = new Map([
          [this.peerId, this.site],
          ...all.map((c) => [c.peerId.toString(), c.status.site] as [string, string]),
        ])
        const { placement } = await this.policy.gate.placeReplicas({
          manifest: hosted.manifest,
          candidates: candidates.map(candidateStatusOf),
          keep: keep.map((m) => ({ peerId: m, site: sites.get(m) ?? hosted.spec.sites[m] ?? 'unknown' })),
          allowPartial: true,
        })
        return placement.chosen[0]
      },
      startJoiner: async (peer) => {
        const st = hosted.replica.status()
        const spec: WorkloadSpec = {
          ...hosted.spec,
          members: [...st.members, peer],
          sites: { ...hosted.spec.sites },
        }
        await this.ask(
          peer,
          TOPICS.host,
          { spec, image: Buffer.from(image).toString('base64'), campaign: false, join: true },
          { timeoutMs: 60_000 },
        )
      },
      report: (phase, peerId, reason) => {
        this.publish({ type: 'repair', workload: name, peerId, phase, reason })
        this.log.info({ workload: name, phase, peerId, reason }, 'repair')
      },
    }
  }

  get #eventContext(): ReplicaEventContext {
    return {
      peerId: this.peerId,
      log: this.log,
      metrics: this.metrics,
      publish: (body) => this.publish(body),
      followConfig: (hosted, members, learners) => this.#followConfig(hosted, members, learners),
      unhost: (name, keepData) => this.unhost(name, keepData),
    }
  }

  #compactionActions(hosted: Hosted): CompactionActions {
    const name = hosted.spec.name
    return {
      everyEntries: this.config.replication.checkpointEveryEntries,
      checkpointSeqs: async () => {
        const out = new Map<string, number>()
        await Promise.all(
          hosted.spec.members
            .filter((m) => m !== this.peerId)
            .map(async (member) => {
              try {
                const report = decodeJson(
                  replicaReportSchema,
                  await this.ask(member, TOPICS.status, { name }, { timeoutMs: 2000 }),
                  'replica report',
                )
                out.set(member, report.checkpointSeq)
              } catch {
                // An unreachable member holds nothing we can count on.
              }
            }),
        )
        return out
      },
      fetch: (member, seq) => this.#fetchCheckpoint(hosted.spec, member, seq),
      compacted: (seq, bytes) =>
        this.log.info(
          { workload: name, seq, bytes },
          'adopted a checkpoint the majority holds; log truncated',
        ),
    }
  }

  /** The group's configuration changed: the spec follows it, so messages, ps and asks go to the right peers. */
  async #followConfig(
    hosted: Hosted,
    members: readonly string[],
    learners: readonly string[],
  ): Promise<void> {
    const next = [...members, ...learners]
    if (next.length === hosted.spec.members.length && next.every((m) => hosted.spec.members.includes(m)))
      return
    hosted.spec = { ...hosted.spec, members: next }
    await this.store.manifests.put(hosted.spec.name, new Uint8Array(0), { spec: hosted.spec })
  }

  /** Where Prometheus scrapes this agent, when metrics are on. */
  get metricsUrl(): string | undefined {
    return this.#metricsServer?.url
  }

  async #restoreHosted(): Promise<void> {
    for (const stored of await this.store.manifests.list()) {
      const parsed = workloadSpecSchema.safeParse((stored.meta as { spec?: unknown }).spec)
      if (!parsed.success) {
        this.log.error({ workload: stored.workload }, 'stored workload spec is invalid; not restarting it')
        continue
      }
      const spec = parsed.data
      if (!spec.members.includes(this.peerId)) {
        this.placed.set(spec.name, spec)
        continue
      }
      try {
        const image = await readFile(this.#imagePath(spec.imageHash))
        // The host policy may have changed since: it is asked again.
        const manifest = await this.policy.admitReplica(spec.manifest, spec, spec.placedBy)
        void this.#learnMembers(spec)
        await this.#startReplica(spec, manifest, image, {})
        this.log.info({ workload: spec.name }, 'replica restarted from the store')
      } catch (err) {
        this.log.error({ err, workload: spec.name }, 'could not restart a hosted replica')
      }
    }
  }

  #imagePath(hash: string): string {
    return join(this.config.dataDir, 'images', `${hash}.wasm`)
  }

  async #saveImage(hash: string, image: Uint8Array): Promise<void> {
    const path = this.#imagePath(hash)
    await mkdir(join(this.config.dataDir, 'images'), { recursive: true, mode: 0o700 })
    const tmp = `${path}.${process.pid}.tmp`
    await writeFile(tmp, image, { mode: 0o600, flush: true })
    await rename(tmp, path)
  }

  /** A spec this agent knows: hosted here, or placed from here. */
  spec(name: string): WorkloadSpec | undefined {
    return this.hosted.get(name)?.spec ?? this.placed.get(name)
  }

  async rememberPlaced(spec: WorkloadSpec): Promise<void> {
    this.placed.set(spec.name, spec)
    if (!spec.members.includes(this.peerId)) {
      await this.store.manifests.put(spec.name, new Uint8Array(0), { spec })
    }
  }

  /** A workload's members changed (repair): remember the new list, for the asks that follow. */
  async followMembers(name: string, members: readonly string[]): Promise<WorkloadSpec> {
    const hosted = this.hosted.get(name)
    if (hosted) {
      await this.#followConfig(hosted, members, [])
      return hosted.spec
    }
    const placed = this.placed.get(name)
    if (!placed) throw new UnknownWorkloadError(name)
    const spec = { ...placed, members: [...members] }
    await this.rememberPlaced(spec)
    return spec
  }

  async forgetPlaced(name: string): Promise<void> {
    if (this.placed.delete(name) && !this.hosted.has(name)) await this.store.manifests.delete(name)
  }

  async deleteImageIfUnused(hash: string): Promise<void> {
    for (const h of this.hosted.values()) if (h.spec.imageHash === hash) return
    await rm(this.#imagePath(hash), { force: true })
  }

  // ---- the replica's view, for ps -----------------------------------------------------------------

  report(name: string): ReplicaReport {
    const hosted = this.hosted.get(name)
    if (!hosted) throw new UnknownWorkloadError(name)
    const s = hosted.replica.status()
    const end = hosted.replica.machineEnd
    return {
      peerId: this.peerId,
      site: this.site,
      role: s.role,
      epoch: s.epoch,
      leader: s.leader ?? null,
      commitSeq: s.commitSeq,
      appliedSeq: s.appliedSeq,
      lastSeq: s.lastSeq,
      checkpointSeq: s.checkpointSeq,
      members: [...s.members, ...s.learners],
      lastFailover: hosted.lastFailover ?? null,
      live: s.live,
      uptimeMs: Date.now() - hosted.replica.startedAt,
      digest: s.lastDigest === undefined ? 'unknown' : s.lastDigest.agree ? 'agree' : 'diverged',
      divergedAtSeq: s.lastDigest && !s.lastDigest.agree ? s.lastDigest.seq : null,
      followers: s.followers.map((f) => ({
        member: f.member,
        matchSeq: f.matchSeq,
        recentActive: f.recentActive,
        lagMs: Math.round(s.lagMs.get(f.member) ?? 0),
      })),
      ended: hosted.replica.failure
        ? `failed: ${hosted.replica.failure.message}`
        : end === undefined
          ? null
          : end.kind === 'exited'
            ? end.outcome
            : end.kind === 'failed'
              ? `failed: ${end.error.message}`
              : null,
    }
  }

  // ---- talking to other agents --------------------------------------------------------------------

  /** Asks `peer` (or answers locally when it is this agent). */
  async ask(
    peer: string,
    topic: string,
    body: unknown,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ) {
    const bytes = encodeJson(body)
    if (peer === this.peerId) return this.#answerLocally(topic, bytes)
    const timeout = AbortSignal.timeout(options.timeoutMs ?? 5000)
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
    return this.node.services.messenger.request(peerIdFromString(peer), topic, bytes, {
      signal,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    })
  }

  #answers(): Record<string, (from: string, bytes: Uint8Array) => Promise<unknown>> {
    return {
      [TOPICS.host]: async (_from, bytes) => {
        const req = decodeJson(hostRequestSchema, bytes, 'host request')
        await this.host(req.spec, Buffer.from(req.image, 'base64'), {
          campaign: req.campaign,
          joining: req.join,
          from: _from,
        })
        return { ok: true }
      },
      [TOPICS.stop]: async (from, bytes) => {
        const req = decodeJson(stopRequestSchema, bytes, 'stop request')
        await this.#checkAsker(req.name, from, 'stop')
        const hash = this.hosted.get(req.name)?.spec.imageHash
        const stopped = await this.unhost(req.name, req.keepData)
        if (hash && !req.keepData) await this.deleteImageIfUnused(hash)
        return { stopped }
      },
      [TOPICS.status]: async (from, bytes) => {
        const { name } = decodeJson(nameRequestSchema, bytes, 'status request')
        await this.#checkAsker(name, from, 'status')
        return this.report(name)
      },
      [TOPICS.stdin]: async (from, bytes) => {
        const req = decodeJson(stdinRequestSchema, bytes, 'stdin request')
        const hosted = await this.#checkAsker(req.name, from, 'stdin')
        const data = Buffer.from(req.data, 'base64')
        const { lastSeq } = hosted.replica.writeStdin(data, req.eof)
        return { accepted: data.length, seq: lastSeq }
      },
      [TOPICS.logs]: async (from, bytes) => {
        const req = decodeJson(logsRequestSchema, bytes, 'logs request')
        const hosted = await this.#checkAsker(req.name, from, 'logs')
        const read = hosted.replica.output.read(req.from, 256 * 1024)
        return { ...read, ended: hosted.replica.output.ended && read.next >= hosted.replica.output.length }
      },
      [TOPICS.leave]: async (from, bytes) => {
        const { name } = decodeJson(nameRequestSchema, bytes, 'leave request')
        const hosted = await this.#checkAsker(name, from, 'leave')
        if (hosted.replica.status().role !== 'primary') {
          throw new NotPrimaryError(
            `this replica of ${name} is not the primary`,
            hosted.replica.status().leader,
          )
        }
        hosted.repair.evict(from)
        return { ok: true }
      },
      [TOPICS.checkpoint]: async (from, bytes) => {
        const req = decodeJson(checkpointRequestSchema, bytes, 'checkpoint request')
        const hosted = await this.#checkAsker(req.name, from, 'checkpoint')
        const decision = await this.policy.gate.mayRequestCheckpoint(
          { manifest: hosted.manifest, members: [...hosted.spec.members] },
          from,
        )
        if (decision.decision === 'deny') {
          throw new ForbiddenError(`${from} may not have the checkpoint of ${req.name}`, decision.reasons)
        }
        const data = await hosted.storage.readCheckpointData(req.seq)
        if (!data) throw new UnknownWorkloadError(`${req.name} (no checkpoint at ${req.seq} here)`)
        this.log.info(
          { workload: req.name, seq: req.seq, to: from, bytes: data.byteLength },
          'sent a checkpoint',
        )
        return { seq: req.seq, data: Buffer.from(data).toString('base64') }
      },
      [TOPICS.failover]: async (from, bytes) => {
        const req = decodeJson(failoverRequestSchema, bytes, 'failover request')
        await this.#checkAsker(req.name, from, 'failover')
        return this.drillFailover(req.name, req.to)
      },
    }
  }

  /**
   * This host no longer wants (some of) its replicas — the owner came back to an idle-only host, or
   * it holds more workloads than its cap — and they go elsewhere without losing anything.
   */
  async #watchHostLimits(): Promise<void> {
    const active = this.#owner.active()
    if (active !== this.#ownerWasActive) {
      this.#ownerWasActive = active
      this.log.info({ ownerActive: active }, active ? 'the owner is using this machine' : 'the owner left')
      this.publish({ type: 'peer', peerId: this.peerId, state: active ? 'busy' : 'idle' })
      void this.candidates().catch(() => {})
    }
    if (this.#handingOff) return
    // Which replicas must go: all of them when the owner is back at an idle-only host; else those
    // past the workload cap (an admin lowered it), shadows first (they leave without a failover).
    const ownerBack = active && this.config.hostPolicy.schedule.idleOnly
    const over = this.hosted.size - this.config.hostPolicy.caps.maxWorkloads
    if (!ownerBack && over <= 0) return
    const hosted = [...this.hosted.values()].sort(
      (a, b) => Number(a.replica.role === 'primary') - Number(b.replica.role === 'primary'),
    )
    const leaving = ownerBack ? hosted : hosted.slice(0, over)
    const why = ownerBack
      ? 'the owner is back'
      : `over the cap of ${this.config.hostPolicy.caps.maxWorkloads} workloads`
    this.#handingOff = true
    try {
      for (const h of leaving) await this.#handOff(h, why)
    } finally {
      this.#handingOff = false
    }
  }

  /** A primary hands its role over first; a shadow asks the primary to replace it (repair does it). */
  async #handOff(hosted: Hosted, why: string): Promise<void> {
    const name = hosted.spec.name
    const st = hosted.replica.status()
    try {
      if (st.role === 'primary') {
        await this.drillFailover(name, undefined)
        this.log.info({ workload: name, why }, 'handed the primary role off')
        return
      }
      if (st.leader && st.leader !== this.peerId) {
        await this.ask(st.leader, TOPICS.leave, { name }, { timeoutMs: 5000 })
        this.log.info({ workload: name, why }, 'asked to be replaced')
      }
    } catch (err) {
      this.log.warn({ err, workload: name, why }, 'could not hand a replica off yet; trying again')
    }
  }

  /** Reads the status of members whose facts policy does not know yet, so their traffic is judged by them. */
  async #learnMembers(spec: WorkloadSpec): Promise<void> {
    if (spec.members.every((m) => m === this.peerId || this.policy.knows(m))) return
    await this.candidates({ timeout: 2000 }).catch((err: unknown) =>
      this.log.warn({ err }, 'could not read the status of the group members'),
    )
  }

  /** Checkpoint bytes from `from` (the member that sent InstallCheckpoint), else from any other member. */
  async #fetchCheckpoint(spec: WorkloadSpec, from: string, seq: number): Promise<Uint8Array> {
    const order = [from, ...spec.members.filter((m) => m !== from && m !== this.peerId)].filter(Boolean)
    let last: unknown
    for (const peer of order) {
      try {
        this.log.info({ workload: spec.name, seq, from: peer }, 'fetching a checkpoint to catch up from')
        const answer = decodeJson(
          checkpointAnswerSchema,
          await this.ask(peer, TOPICS.checkpoint, { name: spec.name, seq }, { timeoutMs: 20_000 }),
          'checkpoint answer',
        )
        return new Uint8Array(Buffer.from(answer.data, 'base64'))
      } catch (err) {
        this.log.warn({ workload: spec.name, seq, from: peer, err }, 'could not fetch a checkpoint')
        last = err
      }
    }
    throw new GroupStateError(
      `no member could give the checkpoint of ${spec.name} at ${seq}: ${(last as Error)?.message}`,
    )
  }

  /**
   * Another agent asks about a workload hosted here: only the group's members and the agent that
   * placed it relay their users' requests (a workload's output is its owner's data, and stop or
   * failover are its owner's decisions). Anyone else is refused, audited and reported.
   */
  async #checkAsker(name: string, from: string, op: string): Promise<Hosted> {
    const hosted = this.#hostedOrThrow(name)
    if (from === this.peerId || from === hosted.spec.placedBy || hosted.spec.members.includes(from))
      return hosted
    const reasons = [`${from} is neither a member of ${name}'s group nor the agent that placed it`]
    this.log.warn({ workload: name, from, op }, 'refused a relayed request from outside the group')
    await this.store.audit.append({
      kind: 'policy-decision',
      point: 'control',
      action: 'control',
      decision: 'deny',
      principal: from,
      resource: name,
      workload: name,
      reasons,
      policyIds: ['agent:relay'],
      detail: { op },
    })
    this.publish({
      type: 'policy-refusal',
      workload: name,
      action: `control:${op}`,
      principal: from,
      reasons,
    })
    throw new ForbiddenError(`${op} of ${name} refused: ${reasons[0]}`, reasons)
  }

  async #answerLocally(topic: string, bytes: Uint8Array): Promise<Uint8Array> {
    const answer = this.#answers()[topic]
    if (!answer) throw new UnderstudyError('ERR_UNKNOWN_TOPIC', `no local answer for ${topic}`)
    return encodeJson(await answer(this.peerId, bytes))
  }

  #hostedOrThrow(name: string): Hosted {
    const hosted = this.hosted.get(name)
    if (!hosted) throw new UnknownWorkloadError(name)
    return hosted
  }

  /** Runs on the primary: hand over and wait until the new primary is live. */
  async drillFailover(
    name: string,
    to: string | undefined,
  ): Promise<{ from: string; to: string; epoch: number; tookMs: number }> {
    const hosted = this.#hostedOrThrow(name)
    const started = performance.now()
    const target = hosted.replica.handOver(to)
    const deadline = Date.now() + Math.max(5000, 4 * this.config.replication.electionTimeoutMs)
    // The new primary's epoch start reaches us as a newer epoch: we step down and follow it.
    while (Date.now() < deadline) {
      const s = hosted.replica.status()
      if (s.role !== 'primary' && s.leader === target) {
        const tookMs = performance.now() - started
        hosted.lastFailover = {
          at: Date.now(),
          from: this.peerId,
          to: target,
          epoch: s.epoch,
          tookMs,
          reason: 'drill',
        }
        return { from: this.peerId, to: target, epoch: s.epoch, tookMs }
      }
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new ConflictError(`the handover of ${name} to ${target} did not complete in time`)
  }

  #serveMesh(): void {
    const messenger = this.node.services.messenger
    messenger.handle(GROUP_TOPIC, (from, bytes) => this.#onGroupMessage(from, bytes))
    messenger.handle(EVENTS_TOPIC, (from, bytes) => this.#onSharedEvent(from, bytes))
    for (const [topic, answer] of Object.entries(this.#answers())) {
      messenger.handleRequest(topic, async (from, bytes) => encodeJson(await answer(from.toString(), bytes)))
    }
  }

  /** What policy judges group traffic by; fencing by epoch is the group protocol's own job. */
  #facts(hosted: Hosted, message: Message): WorkloadFacts {
    const st = hosted.replica.status()
    return {
      manifest: hosted.manifest,
      epoch: message.epoch,
      primary: message.from,
      // The latest configuration counts at once (a joining learner is a member before it commits).
      members: [...new Set([...hosted.spec.members, ...st.members, ...st.learners])],
    }
  }

  #sendGroupMessage(workload: string, to: string, message: Message): void {
    const hosted = this.hosted.get(workload)
    if (hosted && carriesData(message)) {
      // Entries and checkpoints go only to members the data policy allows.
      const allowed = this.policy.memberAllowed(workload, this.#facts(hosted, message), to, 'send')
      if (allowed !== true) {
        this.log.debug(
          { workload, to, allowed },
          'entries held back: the data policy decision is pending or no',
        )
        return
      }
    }
    let peer: PeerId
    try {
      peer = peerIdFromString(to)
    } catch {
      this.log.error({ workload, to }, 'group member is not a peer id')
      return
    }
    this.node.services.messenger.send(peer, GROUP_TOPIC, tagGroupMessage(workload, encodeMessage(message)))
  }

  /** A member or learner of the group as the spec or the group's latest configuration has it. */
  #isMember(hosted: Hosted, peer: string): boolean {
    if (hosted.spec.members.includes(peer)) return true
    const st = hosted.replica.status()
    return st.members.includes(peer) || st.learners.includes(peer)
  }

  #onGroupMessage(from: PeerId, bytes: Uint8Array): void {
    let workload: string
    let message: Message
    try {
      const tagged = untagGroupMessage(bytes)
      workload = tagged.workload
      message = decodeMessage(tagged.message)
    } catch (err) {
      this.log.warn({ err, from: from.toString() }, 'dropped a malformed group message')
      return
    }
    const hosted = this.hosted.get(workload)
    if (!hosted) return
    // A peer speaks only for itself, and only members of the group are heard.
    if (
      message.from !== from.toString() ||
      message.to !== this.peerId ||
      !this.#isMember(hosted, message.from)
    ) {
      this.log.warn({ workload, from: from.toString(), claimed: message.from }, 'refused a group message')
      this.publish({
        type: 'policy-refusal',
        workload,
        action: 'receive-entries',
        principal: from.toString(),
        reasons: [
          message.from !== from.toString()
            ? `the message claims to come from ${message.from}`
            : `${from.toString()} is not a member of ${workload}'s group`,
        ],
      })
      return
    }
    if (carriesData(message)) {
      const allowed = this.policy.memberAllowed(
        workload,
        this.#facts(hosted, message),
        message.from,
        'receive',
      )
      if (allowed !== true) {
        this.log.debug(
          { workload, from: message.from, allowed },
          'entries refused: the data policy decision is pending or no',
        )
        return
      }
      const epoch = hosted.replica.status().epoch
      if (message.epoch < epoch) {
        // Still given to the group, which answers so the deposed sender learns the new epoch.
        void this.store.audit
          .append({
            kind: 'policy-decision',
            point: 'accept-entries',
            action: 'receive-entries',
            decision: 'deny',
            principal: message.from,
            resource: workload,
            workload,
            reasons: [
              `entries of epoch ${message.epoch} from a deposed primary; the group is in epoch ${epoch}`,
            ],
            policyIds: ['group:fencing'],
          })
          .catch((err: unknown) => this.log.error({ err }, 'could not write the audit log'))
      }
    }
    hosted.replica.receive(message)
  }

  async #controlAddress(): Promise<ControlAddress> {
    const control = this.config.control
    if (control.kind === 'unix') {
      await rm(control.socket, { force: true })
      return { socketPath: control.socket }
    }
    const token = (await readFile(control.tokenFile, 'utf8')).trim()
    return { host: control.host, port: control.port, token }
  }

  #peerStatus() {
    return {
      site: this.config.site,
      org: this.config.org ?? '',
      labels: { ...this.config.labels },
      cpu: { cores: availableParallelism(), free: availableParallelism() },
      memory: { totalBytes: totalmem(), freeBytes: freemem() },
      ownerIdle: !this.#owner.active(),
      workloads: [...this.hosted.values()].map((h) => ({ id: h.spec.name, role: h.replica.role })),
      version: AGENT_VERSION,
      hostPolicy: hostPolicyFromConfig(this.config.hostPolicy),
    }
  }
}

function carriesData(message: Message): boolean {
  return message.type === 'append' || message.type === 'install-checkpoint'
}
