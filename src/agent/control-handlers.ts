/**
 * The control API's routes, answered by an Agent. Workload operations work from any agent: what this
 * agent hosts is answered locally, the rest is asked of the group's members over the mesh (stdin goes
 * to whoever is primary now, following redirects across a failover).
 */
import { readFile } from 'node:fs/promises'
import { availableParallelism, freemem } from 'node:os'
import { isAbsolute } from 'node:path'
import type {
  AgentStatus,
  Explanation,
  FailoverResponse,
  LogChunk,
  LogsQuery,
  PeerInfo,
  ReplicaInfo,
  RunResponse,
  StdinResponse,
  StopResponse,
  ValidFailoverRequest,
  ValidRunRequest,
  ValidStdinRequest,
  ValidStopRequest,
  WorkloadDetail,
  WorkloadState,
  WorkloadSummary,
} from '../control/api-types.ts'
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotPrimaryError,
  UnderstudyError,
  UnknownWorkloadError,
} from '../errors/index.ts'
import type { CandidateStatus } from '../policy/index.ts'
import type { Agent } from './agent.ts'
import { AGENT_VERSION } from './agent.ts'
import type { ControlHandlers, RequestContext } from './control/handlers.ts'
import { candidateStatusOf } from './workload/candidates.ts'
import {
  decodeJson,
  failoverAnswerSchema,
  logsAnswerSchema,
  type ReplicaReport,
  replicaReportSchema,
  stdinAnswerSchema,
  TOPICS,
} from './workload/peer-rpc.ts'
import { imageHashOf, type WorkloadSpec } from './workload/spec.ts'

/** How long a request waits for a group to have a primary (an election in progress) before giving up. */
const PRIMARY_WAIT_MS = 15_000

export class AgentHandlers implements ControlHandlers {
  readonly #agent: Agent
  readonly #explanations = new Map<string, Explanation>()
  /** The last primary seen per workload: asked first, looked up again only when it says no. */
  readonly #primaries = new Map<string, string>()

  constructor(agent: Agent) {
    this.#agent = agent
  }

  async status(): Promise<AgentStatus> {
    const a = this.#agent
    return {
      peerId: a.peerId,
      site: a.site,
      org: a.config.org,
      version: AGENT_VERSION,
      startedAt: a.startedAt,
      uptimeMs: Date.now() - a.startedAt,
      peers: a.node.getPeers().length,
      workloads: a.hosted.size,
    }
  }

  async peers(ctx: RequestContext): Promise<PeerInfo[]> {
    const a = this.#agent
    const candidates = await a.node.services.status.listCandidates({ timeout: 2000, signal: ctx.signal })
    const self: PeerInfo = {
      peerId: a.peerId,
      self: true,
      site: a.site,
      org: a.config.org,
      labels: { ...a.config.labels },
      state: 'idle',
      capacity: capacity(),
      rttMs: 0,
      version: AGENT_VERSION,
      hosting: [...a.hosted.keys()],
    }
    return [
      self,
      ...candidates.map((c) => ({
        peerId: c.peerId.toString(),
        self: false,
        site: c.status.site,
        org: c.status.org || undefined,
        labels: c.status.labels,
        state: c.status.ownerIdle ? ('idle' as const) : ('busy' as const),
        capacity: {
          cpus: c.status.cpu.cores,
          memoryMiB: Math.round(c.status.memory.totalBytes / 2 ** 20),
          freeMemoryMiB: Math.round(c.status.memory.freeBytes / 2 ** 20),
          diskMiB: 0,
        },
        rttMs: Math.round(c.rttMs * 10) / 10,
        version: c.status.version,
        hosting: c.status.workloads.map((w) => w.id),
      })),
    ]
  }

  async workloads(ctx: RequestContext): Promise<WorkloadSummary[]> {
    const names = new Set([...this.#agent.hosted.keys(), ...this.#agent.placed.keys()])
    return Promise.all([...names].sort().map((name) => this.#summary(name, ctx.signal)))
  }

  async workload(name: string, ctx: RequestContext): Promise<WorkloadDetail> {
    const spec = this.#spec(name)
    const summary = await this.#summary(name, ctx.signal)
    return {
      ...summary,
      image: spec.imageHash,
      args: spec.args,
      dataPolicy: ['no data policy: any agent that accepts it may host a replica'],
      recentEvents: this.#agent.events.recent().filter((e) => 'workload' in e && e.workload === name),
    }
  }

  async run(request: ValidRunRequest, ctx: RequestContext): Promise<RunResponse> {
    const a = this.#agent
    if (a.spec(request.name)) throw new ConflictError(`a workload named ${request.name} already exists`)
    if (!isAbsolute(request.image)) throw new BadRequestError('image must be an absolute path on the agent')
    let image: Uint8Array
    try {
      image = await readFile(request.image)
    } catch (err) {
      throw new BadRequestError(`cannot read the module ${request.image}: ${(err as Error).message}`)
    }
    // A module we refuse is refused before anyone is asked to host it.
    await a.prepareImage(image)
    const imageHash = imageHashOf(image)
    const { signed, manifest } = await a.policy.manifestFor(request, imageHash)
    const control = await a.policy.gate.mayControl(
      { localAdmin: ctx.caller.localAdmin, name: ctx.caller.principal, userId: a.policy.adminUserId },
      'run',
      { manifest },
    )
    if (control.decision === 'deny')
      throw new ForbiddenError(`you may not run ${request.name} here`, control.reasons)
    const candidates = await a.candidates({ signal: ctx.signal })
    const { placement, explanation } = await a.policy.gate.placeReplicas({
      manifest,
      candidates: [selfCandidate(a), ...candidates.map(candidateStatusOf)],
    })
    this.#explanations.set(request.name, explanation)
    if (!placement.satisfied) {
      throw new ForbiddenError(
        `${request.name} cannot be placed as its policy asks: ${placement.shortfall ?? explanation.summary}`,
        placement.considered
          .filter((p) => !p.chosen)
          .flatMap((p) => p.reasons.map((r) => `${p.peerId}: ${r}`)),
      )
    }
    const members = placement.chosen
    const spec: WorkloadSpec = {
      name: request.name,
      owner: manifest.owner,
      imageHash,
      args: [request.name, ...request.args],
      env: Object.entries(request.env),
      replicasWanted: request.replicas,
      members: members.map((m) => m.peerId),
      sites: Object.fromEntries(members.map((m) => [m.peerId, m.site])),
      createdAt: Date.now(),
      placedBy: a.peerId,
      manifest: signed,
    }
    await a.rememberPlaced(spec)
    const body = { spec, image: Buffer.from(image).toString('base64') }
    const [first, ...shadows] = spec.members as [string, ...string[]]
    try {
      // Shadows first, so the first primary finds its group listening.
      await Promise.all(shadows.map((peer) => this.#hostOn(peer, body, false)))
      await this.#hostOn(first, body, true)
    } catch (err) {
      await Promise.allSettled(
        spec.members.map((peer) => a.ask(peer, TOPICS.stop, { name: spec.name, keepData: false })),
      )
      await a.forgetPlaced(spec.name)
      throw err
    }
    a.publish({ type: 'workload', workload: spec.name, state: 'starting', reason: undefined })
    return { workload: await this.#summary(spec.name, ctx.signal) }
  }

  async stop(name: string, request: ValidStopRequest, ctx: RequestContext): Promise<StopResponse> {
    const a = this.#agent
    const spec = this.#spec(name)
    const results = await Promise.allSettled(
      spec.members.map((peer) =>
        a.ask(peer, TOPICS.stop, { name, keepData: request.keepData }, { signal: ctx.signal }),
      ),
    )
    const failed = results.filter((r) => r.status === 'rejected').length
    await a.forgetPlaced(name)
    return { name, state: failed === 0 ? 'stopped' : 'stopping' }
  }

  async failover(
    name: string,
    request: ValidFailoverRequest,
    ctx: RequestContext,
  ): Promise<FailoverResponse> {
    const primary = await this.#waitForPrimary(name, ctx.signal)
    const answer = decodeJson(
      failoverAnswerSchema,
      await this.#agent.ask(
        primary,
        TOPICS.failover,
        { name, ...(request.to ? { to: request.to } : {}) },
        {
          timeoutMs: 30_000,
        },
      ),
      'failover answer',
    )
    return { name, ...answer }
  }

  async explain(name: string): Promise<Explanation> {
    this.#spec(name)
    const known = this.#explanations.get(name)
    if (known) return known
    const spec = this.#spec(name)
    return {
      name,
      decidedAt: spec.createdAt,
      summary: `placed by ${spec.placedBy}; its reasons are kept only by that agent while it runs`,
      candidates: spec.members.map((peerId, i) => ({
        peerId,
        site: spec.sites[peerId] ?? 'unknown',
        org: undefined,
        chosen: true,
        role: undefined,
        reasons: [i === 0 ? 'chosen as the first primary' : 'chosen as a shadow in a distinct site'],
      })),
    }
  }

  async logs(name: string, query: LogsQuery, ctx: RequestContext): Promise<AsyncIterable<LogChunk>> {
    const a = this.#agent
    const hosted = a.hosted.get(name)
    if (hosted) {
      const output = hosted.replica.output
      if (query.follow) return output.follow(query.from, ctx.signal)
      return toAsync(output.read(query.from).chunks)
    }
    const spec = this.#spec(name)
    return this.#remoteLogs(spec, query, ctx.signal)
  }

  async stdin(name: string, request: ValidStdinRequest, ctx: RequestContext): Promise<StdinResponse> {
    const a = this.#agent
    const spec = this.#spec(name)
    const deadline = Date.now() + PRIMARY_WAIT_MS
    let target = this.#primaries.get(name) ?? (await this.#waitForPrimary(name, ctx.signal, spec))
    for (;;) {
      try {
        const answer = decodeJson(
          stdinAnswerSchema,
          await a.ask(
            target,
            TOPICS.stdin,
            { name, data: request.data, eof: request.eof },
            { signal: ctx.signal },
          ),
          'stdin answer',
        )
        this.#primaries.set(name, target)
        return answer
      } catch (err) {
        // The primary changed under us: find the new one and follow it, within the deadline.
        this.#primaries.delete(name)
        if (Date.now() > deadline || ctx.signal.aborted) throw err
        if (!isNotPrimary(err) && !isUnreachable(err)) throw err
        await sleep(50)
        target = await this.#waitForPrimary(name, ctx.signal, spec)
      }
    }
  }

  // ---- helpers ---------------------------------------------------------------------------------------

  /** Asks `peer` to host a replica; a refusal there comes back as the error it is. */
  async #hostOn(peer: string, body: { spec: WorkloadSpec; image: string }, campaign: boolean): Promise<void> {
    const a = this.#agent
    if (peer === a.peerId) {
      await a.host(body.spec, Buffer.from(body.image, 'base64'), { campaign })
      return
    }
    try {
      await a.ask(peer, TOPICS.host, { ...body, campaign }, { timeoutMs: 60_000 })
    } catch (err) {
      const remote = err as { remoteCode?: string; remoteMessage?: string }
      if (remote.remoteCode === 'ERR_FORBIDDEN' || remote.remoteCode?.startsWith('ERR_MANIFEST')) {
        throw new ForbiddenError(`agent ${peer} refused to host a replica: ${remote.remoteMessage}`)
      }
      throw err
    }
  }

  #spec(name: string): WorkloadSpec {
    const spec = this.#agent.spec(name)
    if (!spec) throw new UnknownWorkloadError(name)
    return spec
  }

  async #reports(spec: WorkloadSpec, signal: AbortSignal): Promise<Map<string, ReplicaReport>> {
    const out = new Map<string, ReplicaReport>()
    await Promise.all(
      spec.members.map(async (peer) => {
        try {
          const bytes = await this.#agent.ask(
            peer,
            TOPICS.status,
            { name: spec.name },
            {
              signal: AbortSignal.any([signal, AbortSignal.timeout(1500)]),
            },
          )
          out.set(peer, decodeJson(replicaReportSchema, bytes, 'replica report'))
        } catch {
          // Unreachable members show as such.
        }
      }),
    )
    return out
  }

  /** The member that is primary of the newest epoch and runs live, waiting through an election. */
  async #waitForPrimary(name: string, signal: AbortSignal, known?: WorkloadSpec): Promise<string> {
    const spec = known ?? this.#spec(name)
    const deadline = Date.now() + PRIMARY_WAIT_MS
    for (;;) {
      const reports = await this.#reports(spec, signal)
      const primary = newestPrimary(reports)
      if (primary) return primary.peerId
      if (Date.now() > deadline) {
        throw new NotPrimaryError(`${name} has no primary right now (an election may be in progress)`)
      }
      await sleep(100)
      signal.throwIfAborted()
    }
  }

  async #summary(name: string, signal: AbortSignal): Promise<WorkloadSummary> {
    let spec = this.#spec(name)
    let reports = await this.#reports(spec, signal)
    let primary = newestPrimary(reports)
    // Repair changed the group since this agent placed it: follow the primary's configuration.
    const current = primary?.members
    if (
      current &&
      (current.length !== spec.members.length || current.some((m) => !spec.members.includes(m)))
    ) {
      spec = await this.#agent.followMembers(name, current)
      reports = await this.#reports(spec, signal)
      primary = newestPrimary(reports)
    }
    const primaryReport = primary ? reports.get(primary.peerId) : undefined
    const replicas: ReplicaInfo[] = spec.members.map((peerId) => {
      const r = reports.get(peerId)
      if (!r) {
        return {
          peerId,
          site: spec.sites[peerId] ?? 'unknown',
          role: 'unknown',
          epoch: 0,
          committedSeq: 0,
          appliedSeq: 0,
          lagEntries: null,
          lagMs: null,
          digest: 'unknown',
          divergedAtSeq: null,
          reachable: false,
          uptimeMs: 0,
        }
      }
      const isPrimary = r.peerId === primary?.peerId
      return {
        peerId,
        site: r.site,
        role: roleOf(r.role),
        epoch: r.epoch,
        committedSeq: r.commitSeq,
        appliedSeq: r.appliedSeq,
        // Committed entries it has not applied yet (appended but uncommitted ones are not lag).
        lagEntries: isPrimary || !primaryReport ? null : Math.max(0, primaryReport.commitSeq - r.appliedSeq),
        lagMs:
          isPrimary || !primaryReport
            ? null
            : (primaryReport.followers.find((f) => f.member === peerId)?.lagMs ?? null),
        digest: r.digest,
        divergedAtSeq: r.divergedAtSeq,
        reachable: true,
        uptimeMs: r.uptimeMs,
        checkpointSeq: r.checkpointSeq,
      }
    })
    // The guest's end as the primary saw it decides; a shadow that failed only degrades the group.
    const ended = (primaryReport ?? [...reports.values()].find((r) => r.ended !== null))?.ended ?? null
    const healthy = [...reports.values()].filter(
      (r) => r.ended === null || !r.ended.startsWith('failed'),
    ).length
    const state: WorkloadState = ended?.startsWith('failed')
      ? 'failed'
      : ended !== null
        ? 'stopped'
        : !primary
          ? reports.size === 0
            ? 'failed'
            : 'electing'
          : healthy < spec.replicasWanted
            ? 'degraded'
            : 'running'
    return {
      name,
      owner: spec.owner,
      state,
      replicasWanted: spec.replicasWanted,
      replicas,
      primary: primary?.peerId,
      epoch: primaryReport?.epoch ?? Math.max(0, ...replicas.map((r) => r.epoch)),
      committedSeq: primaryReport?.commitSeq ?? Math.max(0, ...replicas.map((r) => r.committedSeq)),
      startedAt: spec.createdAt,
      uptimeMs: Date.now() - spec.createdAt,
      // The newest of what the members report (each knows when the role moved to it).
      lastFailover: [...reports.values()]
        .map((r) => r.lastFailover)
        .filter((f) => f !== null)
        .map((f) => ({ ...f, from: f.from }))
        .sort((a, b) => b.at - a.at)[0],
    }
  }

  async *#remoteLogs(spec: WorkloadSpec, query: LogsQuery, signal: AbortSignal): AsyncGenerator<LogChunk> {
    let from = query.from
    for (;;) {
      let progressed = false
      for (const peer of spec.members) {
        try {
          const answer = decodeJson(
            logsAnswerSchema,
            await this.#agent.ask(
              peer,
              TOPICS.logs,
              { name: spec.name, from },
              {
                signal: AbortSignal.any([signal, AbortSignal.timeout(3000)]),
              },
            ),
            'logs answer',
          )
          for (const c of answer.chunks) yield c
          progressed = answer.next > from
          from = answer.next
          if (!query.follow || answer.ended) return
          break
        } catch (err) {
          if (signal.aborted) return
          if (!(err instanceof UnderstudyError)) throw err
        }
      }
      if (!progressed) await sleep(200)
      if (signal.aborted) return
    }
  }
}

function newestPrimary(reports: Map<string, ReplicaReport>): ReplicaReport | undefined {
  let best: ReplicaReport | undefined
  for (const r of reports.values()) {
    if (r.role === 'primary' && r.live && (!best || r.epoch > best.epoch)) best = r
  }
  // A primary of an epoch that a member has already moved past is deposed, whatever it believes.
  const newest = Math.max(0, ...[...reports.values()].map((r) => r.epoch))
  return best && best.epoch === newest ? best : undefined
}

function roleOf(role: string): ReplicaInfo['role'] {
  return role === 'primary' || role === 'shadow' || role === 'candidate' || role === 'pre-candidate'
    ? role
    : 'unknown'
}

function isNotPrimary(err: unknown): boolean {
  return (
    err instanceof UnderstudyError &&
    (err.code === 'ERR_NOT_PRIMARY' || (err as { remoteCode?: string }).remoteCode === 'ERR_NOT_PRIMARY')
  )
}

function isUnreachable(err: unknown): boolean {
  return err instanceof UnderstudyError && !('remoteCode' in err)
}

function selfCandidate(a: Agent): CandidateStatus {
  const self = a.policy.self()
  return {
    peerId: self.id,
    site: self.site,
    org: self.org,
    labels: self.labels,
    idle: self.idle,
    cpuFree: availableParallelism(),
    memFreeMiB: Math.round(freemem() / 2 ** 20),
    hostedWorkloads: a.hosted.size,
    rttMs: 0,
  }
}

function capacity(): PeerInfo['capacity'] {
  return { cpus: 0, memoryMiB: 0, freeMemoryMiB: 0, diskMiB: 0 }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

async function* toAsync<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items
}
