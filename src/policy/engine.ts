/**
 * Decisions, made by Cedar (Amazon's authorization language, through its official
 * WebAssembly build, @cedar-policy/cedar-wasm).
 *
 * Why Cedar rather than a home-made rule language: it is mature and specified (a formal
 * model, differential testing against it), analyzable (policies are validated against a
 * schema, so a misspelled attribute is an error at load, not a rule that silently never
 * matches), its semantics are the ones we want (deny by default; any matching `forbid`
 * overrides every `permit`; a policy that fails to evaluate is reported), it answers with
 * the ids of the policies that decided, which is what `explain` needs, and it runs in
 * Node with no native code or service to deploy. OPA/Rego was the other candidate: a
 * bigger language, a wasm build that needs compiling policies ahead of time, and no
 * forbid-overrides by construction.
 *
 * How: compile.ts turns each document into named Cedar policies; this module turns the
 * request's facts into Cedar entities and context, asks Cedar, and maps the deciding
 * policy ids back to sentences. It fails closed: if any policy errors while evaluating,
 * the answer is deny, whatever Cedar decided.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs'
import { PolicyEvaluationError } from '../errors/index.ts'
import { canonicalJson } from './canonical-json.ts'
import {
  BASE_POLICIES,
  type CompiledPolicies,
  compileDataPolicy,
  compileHostPolicy,
  type RuleInfo,
} from './compile.ts'
import type { HostPolicy, Manifest } from './documents.ts'
import { workloadIdOf } from './manifest.ts'
import { CEDAR_SCHEMA, NAMESPACE } from './schema.ts'
import type { Decision, DecisionRequest, PeerFacts, UserFacts, WorkloadFacts } from './types.ts'
import { shortId } from './wording.ts'

export interface PolicyEngineOptions {
  /** This machine and its admin's host policy (parseHostPolicy); absent: no host rules. */
  host?: { peerId: string; policy: HostPolicy }
  /** How many compiled data policies, and how many recent decisions, to keep (default 256, 1024). */
  cacheSize?: number
  decisionCacheSize?: number
}

/**
 * One agent's decisions: the built-in rules, its own host policy, and the data policy of
 * whichever workload a request is about. Construction compiles and validates the host
 * policy (throws CedarPolicyError for bad admin Cedar). decide() is a pure function of the
 * request; it remembers recent answers because a Cedar call costs about 2 ms, and hot
 * paths (a primary's send loop) ask the same question once per batch.
 */
export class PolicyEngine {
  readonly #host: CompiledPolicies | undefined
  readonly #dataPolicies: BoundedCache<CompiledPolicies>
  readonly #decisions: BoundedCache<Decision>

  constructor(options: PolicyEngineOptions = {}) {
    this.#host =
      options.host == null ? undefined : compileHostPolicy(options.host.peerId, options.host.policy)
    this.#dataPolicies = new BoundedCache(options.cacheSize ?? 256)
    this.#decisions = new BoundedCache(options.decisionCacheSize ?? 1024)
  }

  /** Validator warnings about the admin's own Cedar. */
  get warnings(): string[] {
    return this.#host?.warnings ?? []
  }

  decide(request: DecisionRequest): Decision {
    const key = canonicalJson(request)
    const known = this.#decisions.get(key)
    if (known != null) return structuredClone(known)
    const sets = [BASE_POLICIES]
    if (request.action !== 'connect') sets.push(this.#dataPolicy(request.resource.manifest))
    if (this.#host != null) sets.push(this.#host)
    const decision = evaluate(sets, request)
    this.#decisions.set(key, structuredClone(decision))
    return decision
  }

  /** The Cedar text in force (built-in, host, and a workload's data policy), for `understudy policy show`. */
  cedarText(manifest?: Manifest): string {
    const sets = [BASE_POLICIES, ...(manifest == null ? [] : [this.#dataPolicy(manifest)])]
    if (this.#host != null) sets.push(this.#host)
    return sets.flatMap((set) => Object.values(set.policies)).join('\n\n')
  }

  #dataPolicy(manifest: Manifest): CompiledPolicies {
    // Rules' sentences quote the manifest's name and owner, so those are part of the key.
    const key = canonicalJson([workloadIdOf(manifest), manifest.dataPolicy])
    let compiled = this.#dataPolicies.get(key)
    if (compiled == null) {
      compiled = compileDataPolicy(manifest)
      this.#dataPolicies.set(key, compiled)
    }
    return compiled
  }
}

/** A map that forgets its oldest entry past `limit`. */
class BoundedCache<T> {
  readonly #entries = new Map<string, T>()
  readonly #limit: number

  constructor(limit: number) {
    this.#limit = limit
  }

  get(key: string): T | undefined {
    return this.#entries.get(key)
  }

  set(key: string, value: T): void {
    if (this.#limit <= 0) return
    if (this.#entries.size >= this.#limit) {
      const oldest = this.#entries.keys().next()
      if (!oldest.done) this.#entries.delete(oldest.value)
    }
    this.#entries.set(key, value)
  }
}

/** Decides one request against compiled policy sets (their ids must not collide). */
export function evaluate(sets: readonly CompiledPolicies[], request: DecisionRequest): Decision {
  const policies: Record<string, string> = {}
  const rules: Record<string, RuleInfo> = {}
  const order = new Map<string, number>()
  for (const set of sets) {
    for (const [id, text] of Object.entries(set.policies)) {
      policies[id] = text
      order.set(id, order.size)
    }
    Object.assign(rules, set.rules)
  }

  const answer = cedar.isAuthorized({
    principal: principalUid(request),
    action: { type: `${NAMESPACE}::Action`, id: request.action },
    resource: resourceUid(request),
    context: contextOf(request),
    schema: SCHEMA_JSON,
    validateRequest: true,
    policies: { staticPolicies: policies },
    entities: entitiesOf(request),
  })
  if (answer.type === 'failure') {
    throw new PolicyEvaluationError(
      `Cedar refused the request: ${answer.errors.map((e) => e.message).join('; ')}`,
    )
  }

  const { diagnostics } = answer.response
  const byOrder = (a: string, b: string) => (order.get(a) ?? 0) - (order.get(b) ?? 0)
  const policyIds = [...diagnostics.reason].sort(byOrder)
  const reasons = policyIds.map((id) => rules[id]?.explain(request) ?? `policy ${id}`)
  let decision = answer.response.decision
  if (diagnostics.errors.length > 0) {
    // Fail closed: a forbid that could not be evaluated might have matched.
    decision = 'deny'
    for (const { policyId, error } of diagnostics.errors) {
      reasons.push(`policy ${policyId} could not be evaluated (${error.message}); denied to be safe`)
      policyIds.push(policyId)
    }
  }
  if (decision === 'deny' && reasons.length === 0) reasons.push(defaultDeny(request))
  return {
    decision,
    reasons,
    policyIds,
    action: request.action,
    principal: request.principal.id,
    resource: request.action === 'connect' ? request.resource.id : workloadIdOf(request.resource.manifest),
  }
}

const SCHEMA_JSON = schemaJson()

function schemaJson(): cedar.SchemaJson<string> {
  const answer = cedar.schemaToJson(CEDAR_SCHEMA)
  if (answer.type === 'failure') {
    throw new PolicyEvaluationError(`the built-in Cedar schema does not parse: ${answer.errors[0]?.message}`)
  }
  return answer.json
}

function defaultDeny(request: DecisionRequest): string {
  if (request.action === 'connect')
    return `no policy lets peer ${shortId(request.principal.id)} connect (deny by default)`
  const { manifest } = request.resource
  if (request.action === 'control') {
    return `only the owner of workload ${manifest.name} (${shortId(manifest.owner)}), an admin of this host or its local admin may ${request.context?.op ?? 'control'} it; user ${shortId(request.principal.id)} is none of them`
  }
  return `no policy lets peer ${shortId(request.principal.id)} ${request.action.replace('-', ' ')} for workload ${manifest.name} (deny by default)`
}

type Uid = { type: string; id: string }

function uid(type: 'User' | 'Peer' | 'Workload', id: string): Uid {
  return { type: `${NAMESPACE}::${type}`, id }
}

function principalUid(request: DecisionRequest): Uid {
  return uid(request.action === 'control' ? 'User' : 'Peer', request.principal.id)
}

function resourceUid(request: DecisionRequest): Uid {
  return request.action === 'connect'
    ? uid('Peer', request.resource.id)
    : uid('Workload', workloadIdOf(request.resource.manifest))
}

function contextOf(request: DecisionRequest): cedar.Context {
  const context = request.context ?? {}
  return {
    hour: long('context.hour', context.hour ?? -1),
    epoch: long('context.epoch', context.epoch ?? 0),
    op: context.op ?? '',
    localAdmin: context.localAdmin ?? false,
  }
}

/** The principal, the resource, and the owner they refer to; the principal's facts win on a shared id. */
function entitiesOf(request: DecisionRequest): cedar.EntityJson[] {
  const entities = new Map<string, cedar.EntityJson>()
  const put = (entity: cedar.EntityJson) => {
    const key = canonicalJson(entity.uid)
    if (!entities.has(key)) entities.set(key, entity)
  }
  if (request.action === 'control') put(userEntity(request.principal))
  else put(peerEntity(request.principal))
  if (request.action === 'connect') put(peerEntity(request.resource))
  else {
    put(workloadEntity(request.resource))
    put(userEntity({ id: request.resource.manifest.owner, orgs: request.resource.ownerOrgs ?? [] }))
  }
  return [...entities.values()]
}

function peerEntity(peer: PeerFacts): cedar.EntityJson {
  return {
    uid: uid('Peer', peer.id),
    attrs: {
      org: peer.org,
      site: peer.site,
      idle: peer.idle,
      hostedWorkloads: long('hostedWorkloads', peer.load.hostedWorkloads),
      committedMemoryMiB: long('committedMemoryMiB', peer.load.committedMemoryMiB),
      committedDiskMiB: long('committedDiskMiB', peer.load.committedDiskMiB),
      workloadCpuPercent: long('workloadCpuPercent', peer.load.workloadCpuPercent),
    },
    parents: [],
    tags: { ...peer.labels },
  }
}

function userEntity(user: UserFacts): cedar.EntityJson {
  return { uid: uid('User', user.id), attrs: { orgs: [...new Set(user.orgs)] }, parents: [] }
}

function workloadEntity(workload: WorkloadFacts): cedar.EntityJson {
  const { manifest } = workload
  const attrs: Record<string, cedar.CedarValueJson> = {
    name: manifest.name,
    owner: { __entity: uid('User', manifest.owner) },
    image: manifest.image.sha256,
    replicas: manifest.replicas,
    memoryMiB: manifest.resources.memoryMiB,
    diskMiB: manifest.resources.diskMiB,
    epoch: long('epoch', workload.epoch ?? 0),
    members: [...new Set(workload.members ?? [])].map((id) => ({ __entity: uid('Peer', id) })),
  }
  if (workload.primary != null) attrs.primary = { __entity: uid('Peer', workload.primary) }
  return { uid: uid('Workload', workloadIdOf(manifest)), attrs, parents: [] }
}

/** Cedar's Long is a 64-bit integer; figures from status reports may be fractional. */
function long(field: string, value: number): number {
  if (!Number.isFinite(value))
    throw new PolicyEvaluationError(`${field} is ${value}, not a number Cedar can compare`)
  return Math.round(value)
}
