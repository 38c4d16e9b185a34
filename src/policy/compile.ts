/**
 * Translates policy documents into Cedar policies over the schema in schema.ts.
 *
 * Every rule becomes one Cedar policy with its own id, so Cedar's answer (the ids of the
 * policies that decided) maps back to the rule and to a sentence about the request:
 *
 * - The data policy grants its workload to peers with one `permit` (`data:grant`) and
 *   turns every restriction into a `forbid` scoped to the workload and the "holds-data"
 *   actions: `allow` lists become `forbid … unless { matches }`, `deny` lists become
 *   `forbid … when { matches }`. A denied peer is thus denied by a named rule, not by
 *   the silence of a permit that did not match.
 * - The host policy is all `forbid`s scoped to `principal == Peer::"<this host>"` (whose
 *   workloads, caps, schedule, witness), plus a `permit` for its listed admins' control.
 * - Built-in rules (`base:*`) hold whatever the documents cannot turn off: entries go only
 *   to current members and come only from the primary of the current epoch; control is
 *   for the owner or the local admin.
 *
 * Cedar denies unless some permit matches and no forbid does: a forbid from any source
 * (the owner's, the host's, the admin's Cedar) beats every permit.
 */

import { loadAdminCedar } from './admin-cedar.ts'
import { actionList, actionUid, cedarString, entityList, entityUid, stringList } from './cedar-text.ts'
import type { DataPolicy, HostPolicy, Manifest } from './documents.ts'
import { workloadIdOf } from './manifest.ts'
import type { DecisionRequest, PeerFacts, WorkloadFacts } from './types.ts'
import { labelList, oneOf, plural, shortId } from './wording.ts'

/** What a compiled rule means, for people. */
export interface RuleInfo {
  /** Whose rule: built in, the workload owner's data policy, the host's policy, the admin's own Cedar. */
  source: 'base' | 'data' | 'host' | 'admin'
  /** The rule alone, e.g. `allows only org "physics"`. */
  summary: string
  /** Why it decided this request, naming the facts it looked at. */
  explain(request: DecisionRequest): string
}

/** Cedar policies by id, and what each one means. */
export interface CompiledPolicies {
  policies: Record<string, string>
  rules: Record<string, RuleInfo>
  /** Validator warnings on admin-written Cedar (e.g. a policy that can never match). */
  warnings?: string[]
}

/** Built-in rules, part of every decision. */
export const BASE_POLICIES: CompiledPolicies = buildBase()

/** The owner's data policy for one workload, as Cedar. */
export function compileDataPolicy(manifest: Manifest): CompiledPolicies {
  const out = emptySet()
  const policy: DataPolicy = manifest.dataPolicy
  const who = `data policy of workload ${manifest.name} (owner ${shortId(manifest.owner)})`
  const resource = `resource == ${entityUid('Workload', workloadIdOf(manifest))}`
  const forbid = `forbid(principal, action in ${actionUid('holds-data')}, ${resource})`
  const add = (id: string, summary: string, text: string, explain: (peer: PeerFacts) => string) =>
    addRule(
      out,
      `data:${id}`,
      'data',
      `${who} ${summary}`,
      text,
      (request) => `${who} ${explain(peerOf(request))}`,
    )

  add(
    'grant',
    'admits peers that pass all its rules',
    `permit(principal, action in ${actionList(['holds-data', 'be-witness'])}, ${resource});`,
    (peer) => `admits peer ${shortId(peer.id)}`,
  )
  const { allow, deny } = policy
  if (allow.peers != null) {
    const peers = allow.peers
    add(
      'allow-peers',
      `allows only ${peerNames(peers)}`,
      `${forbid} unless { ${entityList('Peer', peers)}.contains(principal) };`,
      (peer) => `allows only ${peerNames(peers)}; peer ${shortId(peer.id)} is not one of them`,
    )
  }
  if (allow.orgs != null) {
    const orgs = allow.orgs
    add(
      'allow-orgs',
      `allows only ${orgs.length === 1 ? 'org' : 'orgs'} ${oneOf(orgs)}`,
      `${forbid} unless { ${stringList(orgs)}.contains(principal.org) };`,
      (peer) => `allows only ${orgs.length === 1 ? 'org' : 'orgs'} ${oneOf(orgs)}; ${peerIn(peer, 'org')}`,
    )
  }
  if (allow.sites != null) {
    const sites = allow.sites
    add(
      'allow-sites',
      `allows only ${sites.length === 1 ? 'site' : 'sites'} ${oneOf(sites)}`,
      `${forbid} unless { ${stringList(sites)}.contains(principal.site) };`,
      (peer) =>
        `allows only ${sites.length === 1 ? 'site' : 'sites'} ${oneOf(sites)}; ${peerIn(peer, 'site')}`,
    )
  }
  if (allow.labels != null) {
    const labels = allow.labels
    add(
      'allow-labels',
      `requires labels ${labelList(labels)}`,
      `${forbid} unless { ${labelTest(labels, ' && ')} };`,
      (peer) =>
        `requires labels ${labelList(labels)}; peer ${shortId(peer.id)} has ${labelList(peer.labels)}`,
    )
  }
  if (deny.peers != null) {
    add(
      'deny-peers',
      `denies ${peerNames(deny.peers)}`,
      `${forbid} when { ${entityList('Peer', deny.peers)}.contains(principal) };`,
      (peer) => `denies peer ${shortId(peer.id)} by its id`,
    )
  }
  if (deny.orgs != null) {
    const orgs = deny.orgs
    add(
      'deny-orgs',
      `denies ${orgs.length === 1 ? 'org' : 'orgs'} ${oneOf(orgs)}`,
      `${forbid} when { ${stringList(orgs)}.contains(principal.org) };`,
      (peer) => `denies ${orgs.length === 1 ? 'org' : 'orgs'} ${oneOf(orgs)}; ${peerIn(peer, 'org')}`,
    )
  }
  if (deny.sites != null) {
    const sites = deny.sites
    add(
      'deny-sites',
      `denies ${sites.length === 1 ? 'site' : 'sites'} ${oneOf(sites)}`,
      `${forbid} when { ${stringList(sites)}.contains(principal.site) };`,
      (peer) => `denies ${sites.length === 1 ? 'site' : 'sites'} ${oneOf(sites)}; ${peerIn(peer, 'site')}`,
    )
  }
  if (deny.labels != null) {
    const labels = deny.labels
    add(
      'deny-labels',
      `denies peers labelled ${labelList(labels)}`,
      `${forbid} when { ${labelTest(labels, ' || ')} };`,
      (peer) => {
        const hit = Object.fromEntries(Object.entries(labels).filter(([k, v]) => peer.labels[k] === v))
        return `denies peers labelled ${labelList(labels)}; peer ${shortId(peer.id)} has ${labelList(hit)}`
      },
    )
  }
  return out
}

/** One host's policy (and its admin's own Cedar), as Cedar; throws CedarPolicyError for bad Cedar. */
export function compileHostPolicy(hostPeerId: string, policy: HostPolicy): CompiledPolicies {
  const out = emptySet()
  const who = `host policy of peer ${shortId(hostPeerId)}`
  const host = `principal == ${entityUid('Peer', hostPeerId)}`
  const placing = `forbid(${host}, action in ${actionList(['host-replica', 'be-witness'])}, resource)`
  const hosting = `forbid(${host}, action == ${actionUid('host-replica')}, resource)`
  const add = (id: string, summary: string, text: string, explain: (request: DecisionRequest) => string) =>
    addRule(out, `host:${id}`, 'host', `${who} ${summary}`, text, (request) => `${who} ${explain(request)}`)

  if (policy.allow != null) {
    const { users, orgs } = policy.allow
    const tests: string[] = []
    if (users != null) tests.push(`${entityList('User', users)}.contains(resource.owner)`)
    if (orgs != null) tests.push(`resource.owner.orgs.containsAny(${stringList(orgs)})`)
    const whose = [users && userNames(users), orgs && `${orgs.length === 1 ? 'org' : 'orgs'} ${oneOf(orgs)}`]
      .filter(Boolean)
      .join(' and ')
    add(
      'allow',
      `admits only workloads of ${whose}`,
      `${placing} unless { ${tests.join(' || ')} };`,
      (request) => `admits only workloads of ${whose}; ${ownerOf(request)}`,
    )
  }
  if (policy.deny?.users != null) {
    const users = policy.deny.users
    add(
      'deny-users',
      `refuses workloads of ${userNames(users)}`,
      `${placing} when { ${entityList('User', users)}.contains(resource.owner) };`,
      (request) => `refuses workloads of user ${shortId(workloadOf(request).manifest.owner)}`,
    )
  }
  if (policy.deny?.orgs != null) {
    const orgs = policy.deny.orgs
    add(
      'deny-orgs',
      `refuses workloads of ${orgs.length === 1 ? 'org' : 'orgs'} ${oneOf(orgs)}`,
      `${placing} when { resource.owner.orgs.containsAny(${stringList(orgs)}) };`,
      (request) =>
        `refuses workloads of ${orgs.length === 1 ? 'org' : 'orgs'} ${oneOf(orgs)}; ${ownerOf(request)}`,
    )
  }
  const { maxWorkloads, maxMemoryMiB, maxDiskMiB, cpuShare } = policy.caps
  if (maxWorkloads != null) {
    add(
      'max-workloads',
      `caps hosted workloads at ${maxWorkloads}`,
      `${hosting} when { principal.hostedWorkloads >= ${maxWorkloads} };`,
      (request) =>
        `caps hosted workloads at ${maxWorkloads}; it already hosts ${peerOf(request).load.hostedWorkloads}`,
    )
  }
  if (maxMemoryMiB != null) {
    add(
      'max-memory',
      `caps workload memory at ${maxMemoryMiB} MiB`,
      `${hosting} when { principal.committedMemoryMiB + resource.memoryMiB > ${maxMemoryMiB} };`,
      (request) => {
        const { manifest } = workloadOf(request)
        const committed = peerOf(request).load.committedMemoryMiB
        return `caps workload memory at ${maxMemoryMiB} MiB; ${committed} MiB committed plus ${manifest.resources.memoryMiB} MiB for ${manifest.name} would exceed it`
      },
    )
  }
  if (maxDiskMiB != null) {
    add(
      'max-disk',
      `caps workload disk at ${maxDiskMiB} MiB`,
      `${hosting} when { principal.committedDiskMiB + resource.diskMiB > ${maxDiskMiB} };`,
      (request) => {
        const { manifest } = workloadOf(request)
        const committed = peerOf(request).load.committedDiskMiB
        return `caps workload disk at ${maxDiskMiB} MiB; ${committed} MiB committed plus ${manifest.resources.diskMiB} MiB for ${manifest.name} would exceed it`
      },
    )
  }
  if (cpuShare != null) {
    const percent = Math.round(cpuShare * 100)
    add(
      'cpu-share',
      `lets workloads use at most ${percent}% of its CPU`,
      `${hosting} when { principal.workloadCpuPercent >= ${percent} };`,
      (request) =>
        `lets workloads use at most ${percent}% of its CPU; they already use ${peerOf(request).load.workloadCpuPercent}%`,
    )
  }
  if (policy.schedule.idleOnly) {
    add(
      'idle-only',
      'runs workloads only while its owner is idle',
      `${hosting} unless { principal.idle };`,
      () => 'runs workloads only while its owner is idle; the owner is using it',
    )
  }
  if (policy.schedule.hours != null) {
    const ranges = [policy.schedule.hours].flat()
    const tests = ranges.map(({ from, to }) =>
      from < to
        ? `context.hour >= ${from} && context.hour < ${to}`
        : `context.hour >= ${from} || context.hour < ${to % 24}`,
    )
    const inHours = tests.length === 1 ? tests[0] : tests.map((test) => `(${test})`).join(' || ')
    const window = `${ranges.map(({ from, to }) => `from ${hh(from)} to ${hh(to % 24)}`).join(' or ')} local time`
    add(
      'hours',
      `runs workloads only ${window}`,
      `${hosting} unless { context.hour >= 0 && (${inHours}) };`,
      (request) => {
        const hour = request.context?.hour
        return `runs workloads only ${window}; ${hour == null || hour < 0 ? 'its local hour is unknown' : `its local hour is ${hour}`}`
      },
    )
  }
  if (policy.acceptsWorkloads === false) {
    add(
      'closed',
      "takes no one's workloads",
      `${placing};`,
      () => "takes no one's workloads: its admin admitted no users and no orgs",
    )
  }
  if (!policy.witness) {
    add(
      'no-witness',
      'does not act as a witness',
      `forbid(${host}, action == ${actionUid('be-witness')}, resource);`,
      () => 'does not act as a witness',
    )
  }
  if (policy.admins != null) {
    const admins = policy.admins
    addRule(
      out,
      'host:admins',
      'host',
      `${who} names ${userNames(admins)} as admins`,
      `permit(principal, action == ${actionUid('control')}, resource) when { ${entityList('User', admins)}.contains(principal) };`,
      (request) => `user ${shortId(principalId(request))} is an admin of host ${shortId(hostPeerId)}`,
    )
  }
  if (policy.blockPeers != null) {
    const blocked = policy.blockPeers
    add(
      'block-peers',
      `blocks ${peerNames(blocked)}`,
      `forbid(principal, action == ${actionUid('connect')}, resource == ${entityUid('Peer', hostPeerId)}) when { ${entityList('Peer', blocked)}.contains(principal) };`,
      (request) => `blocks peer ${shortId(principalId(request))}`,
    )
  }
  if (policy.cedar != null) {
    const admin = loadAdminCedar(policy.cedar)
    Object.assign(out.policies, admin.policies)
    Object.assign(out.rules, admin.rules)
    out.warnings = admin.warnings
  }
  return out
}

function buildBase(): CompiledPolicies {
  const out = emptySet()
  addRule(
    out,
    'base:owner-control',
    'base',
    'the owner of a workload may control it',
    `permit(principal, action == ${actionUid('control')}, resource) when { principal == resource.owner };`,
    (request) => `user ${shortId(principalId(request))} owns workload ${workloadOf(request).manifest.name}`,
  )
  addRule(
    out,
    'base:local-admin',
    'base',
    "this host's local admin may control any workload on it",
    `permit(principal, action == ${actionUid('control')}, resource) when { context.localAdmin };`,
    () => "the request came from this host's local admin (its control API)",
  )
  addRule(
    out,
    'base:members-only',
    'base',
    'entries and checkpoints go only to current members',
    `forbid(principal, action in ${actionList(['receive-entries', 'request-checkpoint'])}, resource) unless { resource.members.contains(principal) };`,
    (request) => {
      const workload = workloadOf(request)
      return `peer ${shortId(principalId(request))} is not a current member of workload ${workload.manifest.name} (epoch ${workload.epoch ?? 0})`
    },
  )
  addRule(
    out,
    'base:older-epoch',
    'base',
    'entries from an older epoch are refused',
    `forbid(principal, action == ${actionUid('send-entries')}, resource) when { context.epoch < resource.epoch };`,
    (request) => {
      const workload = workloadOf(request)
      return `entries stamped with epoch ${request.context?.epoch ?? 0} are older than workload ${workload.manifest.name}'s current epoch ${workload.epoch ?? 0}`
    },
  )
  addRule(
    out,
    'base:primary-only',
    'base',
    'entries come only from the primary of the current epoch',
    `forbid(principal, action == ${actionUid('send-entries')}, resource) unless { resource has primary && resource.primary == principal && context.epoch == resource.epoch };`,
    (request) => {
      const workload = workloadOf(request)
      const epoch = workload.epoch ?? 0
      const name = workload.manifest.name
      if (workload.primary == null) return `workload ${name} has no known primary in epoch ${epoch}`
      const stamped = request.context?.epoch ?? 0
      if (stamped !== epoch)
        return `entries are stamped with epoch ${stamped}, not the current epoch ${epoch} of workload ${name}`
      return `peer ${shortId(principalId(request))} is not the primary of workload ${name} in epoch ${epoch} (the primary is ${shortId(workload.primary)})`
    },
  )
  addRule(
    out,
    'base:open-mesh',
    'base',
    'peers may connect unless a host blocks them',
    `permit(principal, action == ${actionUid('connect')}, resource);`,
    () => 'peers may connect unless a host policy blocks them',
  )
  return out
}

function emptySet(): CompiledPolicies {
  return { policies: {}, rules: {} }
}

function addRule(
  out: CompiledPolicies,
  id: string,
  source: RuleInfo['source'],
  summary: string,
  text: string,
  explain: RuleInfo['explain'],
): void {
  out.policies[id] = `@id(${cedarString(id)})\n@reason(${cedarString(summary)})\n${text}`
  out.rules[id] = { source, summary, explain }
}

function labelTest(labels: Record<string, string>, join: string): string {
  return Object.entries(labels)
    .map(
      ([key, value]) =>
        `(principal.hasTag(${cedarString(key)}) && principal.getTag(${cedarString(key)}) == ${cedarString(value)})`,
    )
    .join(join)
}

function peerNames(ids: readonly string[]): string {
  return ids.length <= 3
    ? `${ids.length === 1 ? 'peer' : 'peers'} ${ids.map(shortId).join(', ')}`
    : plural(ids.length, 'listed peer')
}

function userNames(ids: readonly string[]): string {
  return ids.length <= 3
    ? `${ids.length === 1 ? 'user' : 'users'} ${ids.map(shortId).join(', ')}`
    : plural(ids.length, 'listed user')
}

function peerIn(peer: PeerFacts, field: 'org' | 'site'): string {
  const value = peer[field]
  return value === ''
    ? `peer ${shortId(peer.id)} has no ${field}`
    : `peer ${shortId(peer.id)} is in ${field} ${JSON.stringify(value)}`
}

function ownerOf(request: DecisionRequest): string {
  const workload = workloadOf(request)
  const orgs = workload.ownerOrgs ?? []
  const owner = `the owner ${shortId(workload.manifest.owner)} of workload ${workload.manifest.name}`
  return orgs.length === 0
    ? `${owner} is in no known org`
    : `${owner} is in ${orgs.length === 1 ? 'org' : 'orgs'} ${oneOf(orgs)}`
}

function hh(hour: number): string {
  return `${String(hour).padStart(2, '0')}:00`
}

function principalId(request: DecisionRequest): string {
  return request.principal.id
}

/** The principal as a peer; rules that call this are scoped to peer principals. */
function peerOf(request: DecisionRequest): PeerFacts {
  if (request.action === 'control')
    throw new TypeError('a control request has a user, not a peer, as principal')
  return request.principal
}

/** The resource as a workload; rules that call this are scoped to workload resources. */
function workloadOf(request: DecisionRequest): WorkloadFacts {
  if (request.action === 'connect')
    throw new TypeError('a connect request has a peer, not a workload, as resource')
  return request.resource
}
