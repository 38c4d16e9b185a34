/**
 * The policy gate: the one place the agent asks policy before data moves. Each method is
 * an enforcement point (a host accepting a replica, a primary sending entries, a member
 * accepting them, a checkpoint served, a control action, a connection, an incoming
 * manifest, a placement). The gate only gathers facts (this host's, peers' from the status
 * cache, owners' orgs from a trusted directory, the hour), asks the pure PolicyEngine,
 * writes the decision to the audit log and publishes refusals as control events.
 *
 * Audit writes are awaited: if one fails the method rejects, and callers treat that as a
 * deny (an unrecorded decision is not acted on). Denies are always written; allows of the
 * per-batch checks are sampled (allow-sampler.ts explains why and how).
 */

import type { ControlEventBody, Explanation } from '../control/api-types.ts'
import { ManifestInvalidError, UnderstudyError } from '../errors/index.ts'
import type {
  CandidateStatus,
  Decision,
  DecisionRequest,
  HostLoad,
  Manifest,
  PeerFacts,
  Placement,
  PlacementRequest,
  WorkloadFacts,
} from '../policy/index.ts'
import { type PolicyEngine, place, unknownPeer, verifyManifest, workloadIdOf } from '../policy/index.ts'
import { AllowSampler } from './policy-gate/allow-sampler.ts'
import { explanationOf } from './policy-gate/explanation.ts'
import type { AuditRecord } from './store/index.ts'

export type { HostPolicyExtras } from './policy-gate/host-policy.ts'
export { hostEngine, hostPolicyFromConfig } from './policy-gate/host-policy.ts'

/** Where the gate was asked; the audit record's `point`. */
export type EnforcementPoint =
  | 'host-replica'
  | 'send-entries'
  | 'accept-entries'
  | 'serve-checkpoint'
  | 'control'
  | 'connect'
  | 'verify-manifest'
  | 'placement'

/** Control operations the API exposes; policy sees them as `context.op`. */
export type ControlOp = 'run' | 'stop' | 'failover' | 'stdin' | 'logs' | 'explain'

/** Who asks for a control action. */
export interface ControlCaller {
  /** The user id the caller proved (a signed request, a signed manifest); absent: unknown. */
  userId?: string | undefined
  /** The request came through this host's local control API (its admin). */
  localAdmin: boolean
  /** A name for the audit log, e.g. 'local-admin (unix socket)'. */
  name?: string | undefined
}

/** The audit record of one decision (AuditLog kind 'policy-decision'). */
export interface PolicyAuditRecord extends AuditRecord {
  kind: 'policy-decision'
  point: EnforcementPoint
  /** The Cedar action decided ('receive-entries' when a primary sends to a member, …). */
  action: string
  decision: 'allow' | 'deny'
  principal: string
  /** Workload id (`owner/name`) or, for connect, this host's peer id. */
  resource: string
  workload?: string
  reasons: string[]
  policyIds: string[]
  /** What else the decision looked at: epoch, proposer, op, error code. */
  detail?: Record<string, string | number | boolean>
  /** Allows of this same question not written since the previous record (sampling). */
  skippedAllows?: number
}

/** What the gate needs; all facts come from the caller's caches, never from the network. */
export interface PolicyGateInit {
  /** Built from this agent's host policy (hostEngine) with its admin's Cedar. */
  engine: PolicyEngine
  /** Where decisions are recorded: the agent store's audit log. */
  audit: { append(record: AuditRecord): Promise<unknown> }
  /** Where refusals are announced (the control API's EventHub). */
  events?: { publish(body: ControlEventBody): unknown } | undefined
  /** This host as policy sees it now (idle, load); its id is the engine's host peer id. */
  self: () => PeerFacts
  /** A peer's advertised facts from the mesh status cache; undefined: unknown (judged as unknownPeer). */
  peerFacts: (peerId: string) => PeerFacts | undefined
  /** A user's orgs from the directory this agent trusts (default: none known). */
  userOrgs?: ((userId: string) => readonly string[]) | undefined
  now?: (() => Date) | undefined
  /** Sampled checks write at most one allow per question per this long (default 60 s). */
  allowAuditIntervalMs?: number | undefined
}

const DEFAULT_ALLOW_AUDIT_INTERVAL_MS = 60_000
const SAMPLED_QUESTIONS = 4096
const ANONYMOUS = '(anonymous)'

export class PolicyGate {
  readonly #engine: PolicyEngine
  readonly #audit: PolicyGateInit['audit']
  readonly #events: PolicyGateInit['events']
  readonly #self: () => PeerFacts
  readonly #peerFacts: (peerId: string) => PeerFacts | undefined
  readonly #userOrgs: (userId: string) => readonly string[]
  readonly #now: () => Date
  readonly #sampler: AllowSampler

  constructor(init: PolicyGateInit) {
    this.#engine = init.engine
    this.#audit = init.audit
    this.#events = init.events
    this.#self = init.self
    this.#peerFacts = init.peerFacts
    this.#userOrgs = init.userOrgs ?? (() => [])
    this.#now = init.now ?? (() => new Date())
    this.#sampler = new AllowSampler({
      intervalMs: init.allowAuditIntervalMs ?? DEFAULT_ALLOW_AUDIT_INTERVAL_MS,
      capacity: SAMPLED_QUESTIONS,
    })
  }

  /** This host accepting a replica of `manifest` (verified) that `proposer` asks it to hold. */
  async mayHostReplica(manifest: Manifest, proposer: string, load?: HostLoad): Promise<Decision> {
    const self = this.#self()
    const principal = load == null ? self : { ...self, load }
    const resource: WorkloadFacts = {
      manifest,
      ownerOrgs: this.#orgsOf(manifest.owner),
      epoch: 0,
      members: [],
    }
    return this.#decide(
      'host-replica',
      { action: 'host-replica', principal, resource, context: this.#context() },
      {
        detail: { proposer },
      },
    )
  }

  /** The primary sending entries of `workload` to `to`: only a current member the data policy admits. */
  async maySendEntries(workload: WorkloadFacts, to: string): Promise<Decision> {
    const request: DecisionRequest = {
      action: 'receive-entries',
      principal: this.#peer(to),
      resource: this.#withOrgs(workload),
      context: this.#context(),
    }
    return this.#decide('send-entries', request, { sampled: true })
  }

  /**
   * A member accepting entries stamped `epoch` from `from`: only from the primary of the
   * current epoch as `workload` says (the group's view, updated by elections). Entries from
   * an older epoch, a newer one this member has not seen won, or another peer are refused.
   */
  async mayReceiveEntries(workload: WorkloadFacts, from: string, epoch: number): Promise<Decision> {
    const request: DecisionRequest = {
      action: 'send-entries',
      principal: this.#peer(from),
      resource: this.#withOrgs(workload),
      context: { ...this.#context(), epoch },
    }
    return this.#decide('accept-entries', request, { sampled: true, detail: { epoch } })
  }

  /** Serving a checkpoint of `workload` to `from`: only a current member the data policy admits. */
  async mayRequestCheckpoint(workload: WorkloadFacts, from: string): Promise<Decision> {
    const request: DecisionRequest = {
      action: 'request-checkpoint',
      principal: this.#peer(from),
      resource: this.#withOrgs(workload),
      context: this.#context(),
    }
    return this.#decide('serve-checkpoint', request)
  }

  /** A control action on `workload`: only its owner, an admin the host policy names, or the local admin. */
  async mayControl(caller: ControlCaller, op: ControlOp, workload: WorkloadFacts): Promise<Decision> {
    const userId = caller.userId ?? ANONYMOUS
    const request: DecisionRequest = {
      action: 'control',
      principal: { id: userId, orgs: caller.userId == null ? [] : [...this.#userOrgs(caller.userId)] },
      resource: this.#withOrgs(workload),
      context: { ...this.#context(), op, localAdmin: caller.localAdmin },
    }
    const detail: Record<string, string | boolean> = { op, localAdmin: caller.localAdmin }
    if (caller.name != null) detail.caller = caller.name
    return this.#decide('control', request, { detail })
  }

  /**
   * The connection gater's question: may `peerId` talk to this host at all? Allowed unless
   * a rule says otherwise (the host's blockPeers, the admin's Cedar), so the mesh is not cut
   * by default; a peer the status cache does not know yet is judged as unknownPeer.
   */
  async mayConnect(peerId: string): Promise<Decision> {
    const request: DecisionRequest = {
      action: 'connect',
      principal: this.#peer(peerId),
      resource: this.#self(),
      context: this.#context(),
    }
    return this.#decide('connect', request, { sampled: true })
  }

  /** mayConnect as createMeshNode's `connectionGater` (true: allowed). */
  connectionGater(): (peerId: { toString(): string }) => Promise<boolean> {
    return async (peerId) => (await this.mayConnect(peerId.toString())).decision === 'allow'
  }

  /**
   * Checks a manifest received from anywhere: its JSON bytes (a run request's `manifest`,
   * base64-decoded) or the parsed SignedManifest. Returns the verified manifest, or throws
   * the typed error (ManifestUnsigned/Tampered/NotOwner/Invalid) after auditing the refusal.
   */
  async verifyIncomingManifest(input: Uint8Array | unknown, from?: string): Promise<Manifest> {
    const principal = from ?? ANONYMOUS
    let manifest: Manifest
    try {
      manifest = await verifyManifest(input instanceof Uint8Array ? parseJson(input) : input)
    } catch (err) {
      if (!(err instanceof UnderstudyError)) throw err
      const claimed = claimedWorkload(input)
      this.#refuse(claimed?.name, 'verify-manifest', principal, [err.message])
      const record: PolicyAuditRecord = {
        kind: 'policy-decision',
        point: 'verify-manifest',
        action: 'verify-manifest',
        decision: 'deny',
        principal,
        resource: claimed?.id ?? '(unknown)',
        reasons: [err.message],
        policyIds: [],
        detail: { code: err.code },
      }
      if (claimed != null) record.workload = claimed.name
      await this.#record(record)
      throw err
    }
    await this.#record({
      kind: 'policy-decision',
      point: 'verify-manifest',
      action: 'verify-manifest',
      decision: 'allow',
      principal,
      resource: workloadIdOf(manifest),
      workload: manifest.name,
      reasons: [`signed by its owner ${manifest.owner}`],
      policyIds: [],
    })
    return manifest
  }

  /** `understudy explain`: where placement would put the workload and why, for each peer. Not audited (a read). */
  explainPlacement(request: PlacementRequest): Explanation {
    const { explanation } = this.#place(request)
    return explanation
  }

  /**
   * Placement for `run` and repair: audited, and a refusal is published when the policies
   * leave no (full) placement. The caller must not run with `placement.chosen` unless
   * `placement.satisfied`, or `placement.partial` when it asked for one and tells the user.
   */
  async placeReplicas(
    request: PlacementRequest,
  ): Promise<{ placement: Placement; explanation: Explanation }> {
    const outcome = this.#place(request)
    const { placement, explanation } = outcome
    const { manifest } = request
    const decision = placement.satisfied ? 'allow' : 'deny'
    const blocking = placement.considered.flatMap((peer) => (peer.chosen ? [] : peer.reasons))
    await this.#record({
      kind: 'policy-decision',
      point: 'placement',
      action: 'host-replica',
      decision,
      principal: this.#self().id,
      resource: workloadIdOf(manifest),
      workload: manifest.name,
      reasons: [explanation.summary],
      policyIds: [],
      detail: {
        chosen: placement.chosen.map((replica) => `${replica.role}:${replica.peerId}`).join(','),
        partial: placement.partial,
      },
    })
    if (decision === 'deny') {
      this.#refuse(manifest.name, 'placement', this.#self().id, [
        explanation.summary,
        ...blocking.slice(0, 8),
      ])
    }
    return outcome
  }

  #place(request: PlacementRequest): { placement: Placement; explanation: Explanation } {
    const self = this.#self()
    const hour = this.#now().getHours()
    const ownerOrgs = request.ownerOrgs ?? this.#orgsOf(request.manifest.owner)
    const full: PlacementRequest = {
      ...request,
      ownerOrgs,
      // This host knows its own rules as an engine, not as a document: it answers for itself.
      candidates: request.candidates.map((candidate) =>
        candidate.peerId === self.id && candidate.hostPolicy == null && candidate.hostAnswer == null
          ? { ...candidate, hostAnswer: this.#ownAnswer(request.manifest, ownerOrgs, candidate, self, hour) }
          : candidate,
      ),
    }
    const placement = place(full)
    return { placement, explanation: explanationOf(full, placement, this.#now().getTime()) }
  }

  #ownAnswer(
    manifest: Manifest,
    ownerOrgs: string[],
    candidate: CandidateStatus,
    self: PeerFacts,
    hour: number,
  ): CandidateStatus['hostAnswer'] {
    const decision = this.#engine.decide({
      action: 'host-replica',
      principal: self,
      resource: { manifest, ownerOrgs, epoch: 0, members: [] },
      context: { hour: candidate.localHour ?? hour },
    })
    if (decision.decision === 'allow') return { decision: 'allow', reasons: [] }
    // Placement quotes these words only: tag each with its rule, as placement's own blocks are.
    const reasons = decision.reasons.map((reason, i) => {
      const id = decision.policyIds[i]
      return id == null ? reason : `${reason} [${id}]`
    })
    return { decision: 'deny', reasons }
  }

  async #decide(
    point: EnforcementPoint,
    request: DecisionRequest,
    options: { sampled?: boolean; detail?: Record<string, string | number | boolean> } = {},
  ): Promise<Decision> {
    const decision = this.#engine.decide(request)
    const workload = request.action === 'connect' ? undefined : request.resource.manifest.name
    const key = `${point}\n${decision.principal}\n${decision.resource}`
    let skippedAllows: number | undefined
    if (decision.decision === 'allow' && options.sampled === true) {
      skippedAllows = this.#sampler.allow(key, this.#now().getTime())
      if (skippedAllows === undefined) return decision
    } else if (decision.decision === 'deny') {
      this.#sampler.deny(key)
    }
    const record: PolicyAuditRecord = {
      kind: 'policy-decision',
      point,
      action: decision.action,
      decision: decision.decision,
      principal: decision.principal,
      resource: decision.resource,
      reasons: decision.reasons,
      policyIds: decision.policyIds,
    }
    if (workload != null) record.workload = workload
    if (options.detail != null) record.detail = options.detail
    if (skippedAllows != null && skippedAllows > 0) record.skippedAllows = skippedAllows
    // Publish before the write: a refusal is news even if the store is failing.
    if (decision.decision === 'deny') this.#refuse(workload, point, decision.principal, decision.reasons)
    await this.#record(record)
    return decision
  }

  async #record(record: PolicyAuditRecord): Promise<void> {
    await this.#audit.append(record)
  }

  #refuse(workload: string | undefined, point: EnforcementPoint, principal: string, reasons: string[]): void {
    this.#events?.publish({ type: 'policy-refusal', workload, action: point, principal, reasons })
  }

  #peer(peerId: string): PeerFacts {
    return this.#peerFacts(peerId) ?? unknownPeer(peerId)
  }

  #orgsOf(userId: string): string[] {
    return [...this.#userOrgs(userId)]
  }

  #withOrgs(workload: WorkloadFacts): WorkloadFacts {
    return workload.ownerOrgs != null
      ? workload
      : { ...workload, ownerOrgs: this.#orgsOf(workload.manifest.owner) }
  }

  #context(): { hour: number } {
    return { hour: this.#now().getHours() }
  }
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new ManifestInvalidError(
      '(root)',
      `the signed manifest is not UTF-8 JSON (${(err as Error).message}); produce it with \`understudy manifest sign\``,
      { cause: err },
    )
  }
}

/** The workload a refused manifest claims to be (unverified), for the audit record. */
function claimedWorkload(input: unknown): { id: string; name: string } | undefined {
  let value = input
  if (input instanceof Uint8Array) {
    try {
      value = JSON.parse(new TextDecoder().decode(input))
    } catch {
      return undefined
    }
  }
  const manifest = (value as { manifest?: { owner?: unknown; name?: unknown } } | null)?.manifest
  if (typeof manifest?.owner !== 'string' || typeof manifest.name !== 'string') return undefined
  const name = manifest.name.slice(0, 64)
  return { id: `${manifest.owner.slice(0, 128)}/${name}`, name }
}
