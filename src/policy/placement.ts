/**
 * Placement: where a workload's primary and shadows go. Pure: the caller gathers the
 * candidates' advertised status; this filters them by the owner's data policy and each
 * host's policy (every exclusion with its reason), spreads replicas over distinct sites,
 * then ranks the rest: idle machines first, then roomy ones, then close ones.
 *
 * It never places data on a peer the policies refuse, and never returns fewer replicas
 * than asked without saying so: an unsatisfiable request comes back `satisfied: false`
 * with the rule that blocked it, and an empty `chosen` unless the caller asked for a
 * partial placement (`allowPartial`), in which case `partial: true` says it is one.
 */
import { UnderstudyError } from '../errors/index.ts'
import { BASE_POLICIES, type CompiledPolicies, compileDataPolicy, compileHostPolicy } from './compile.ts'
import { type Manifest, parseHostPolicy } from './documents.ts'
import { evaluate } from './engine.ts'
import type { PeerFacts } from './types.ts'
import { oneOf, plural, shortId } from './wording.ts'

/** One candidate host, as its status advertises it. */
export interface CandidateStatus {
  peerId: string
  site: string
  org: string
  labels: Record<string, string>
  /** The machine's owner is away. */
  idle: boolean
  /** Idle CPU capacity, in cores. */
  cpuFree: number
  memFreeMiB: number
  diskFreeMiB?: number
  hostedWorkloads: number
  committedMemoryMiB?: number
  committedDiskMiB?: number
  workloadCpuPercent?: number
  /** Round-trip time from the placing agent. */
  rttMs: number
  /** The host's local hour of day (0..23), for its schedule. */
  localHour?: number
  /** The host policy it advertises, as received (validated here). */
  hostPolicy?: unknown
  /** Or the host's own answer to "would you host this workload?". */
  hostAnswer?: { decision: 'allow' | 'deny'; reasons: string[] }
}

export interface PlacementRequest {
  /** A verified manifest: its data policy and replica count. */
  manifest: Manifest
  /** The owner's orgs, from the placing agent's trusted directory. */
  ownerOrgs?: string[]
  candidates: readonly CandidateStatus[]
  /** Members that stay (replacing one replica): they count toward replicas and sites, and are not candidates. */
  keep?: ReadonlyArray<{ peerId: string; site: string }>
  /** Return the best partial placement when the full one is impossible (flagged `partial`). */
  allowPartial?: boolean
}

export interface PlacedReplica {
  peerId: string
  site: string
  role: 'primary' | 'shadow'
}

export interface ConsideredPeer {
  peerId: string
  chosen: boolean
  /** Position among the eligible peers, 1 = best; absent when excluded. */
  rank?: number
  reasons: string[]
}

export interface Placement {
  /** New replicas, best first; the first is the primary unless `keep` was given. */
  chosen: PlacedReplica[]
  /** Every candidate, in the order given, with why it was or was not chosen. */
  considered: ConsideredPeer[]
  /** Replicas and distinct sites are as the manifest asks. */
  satisfied: boolean
  /** `chosen` holds fewer replicas or sites than asked (only with allowPartial). */
  partial: boolean
  /** What is missing and which rules blocked it; set whenever not satisfied. */
  shortfall?: string
}

/** Chooses hosts for a workload's replicas. */
export function place(request: PlacementRequest): Placement {
  const { manifest } = request
  const data = compileDataPolicy(manifest)
  const keep = request.keep ?? []
  const members = new Set(keep.map((member) => member.peerId))
  const seen = new Set<string>()
  const verdicts: Verdict[] = request.candidates.map((candidate) => {
    if (seen.has(candidate.peerId)) {
      return excluded(candidate, 'placement:duplicate', 'listed twice; the first entry counts')
    }
    seen.add(candidate.peerId)
    if (members.has(candidate.peerId)) {
      return excluded(candidate, 'placement:member', 'already holds a replica of this workload')
    }
    return judge(candidate, request, data)
  })

  const eligible = verdicts.filter((v) => v.eligible).sort((a, b) => compareCandidates(a, b, manifest))
  eligible.forEach((verdict, index) => {
    verdict.rank = index + 1
  })

  // Best peer of each new site first, then the best of the rest, so replicas span as many
  // sites as the eligible peers allow.
  const needed = Math.max(0, manifest.replicas - keep.length)
  const sites = new Set(keep.map((member) => member.site))
  const picked: Verdict[] = []
  for (const verdict of eligible) {
    if (picked.length === needed) break
    if (!sites.has(verdict.candidate.site)) {
      picked.push(verdict)
      sites.add(verdict.candidate.site)
    }
  }
  for (const verdict of eligible) {
    if (picked.length === needed) break
    if (!picked.includes(verdict)) picked.push(verdict)
  }
  picked.sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0))

  const replicas = keep.length + picked.length
  const satisfied = replicas === manifest.replicas && sites.size >= manifest.dataPolicy.minSites
  const commit = satisfied || (request.allowPartial === true && picked.length > 0)
  const chosen: PlacedReplica[] = commit
    ? picked.map((verdict, index) => ({
        peerId: verdict.candidate.peerId,
        site: verdict.candidate.site,
        role: index === 0 && keep.length === 0 ? 'primary' : 'shadow',
      }))
    : []

  const considered = verdicts.map((verdict): ConsideredPeer => {
    const isPicked = picked.includes(verdict)
    const reasons = verdict.eligible ? [...verdict.admitted] : verdict.blocks.map((b) => b.reason)
    if (verdict.rank != null) {
      const where = `rank ${verdict.rank} of ${eligible.length}: ${describe(verdict.candidate)}`
      if (isPicked && commit) {
        const role = chosen.find((replica) => replica.peerId === verdict.candidate.peerId)?.role
        reasons.unshift(`chosen as ${role}, ${where}`)
      } else if (isPicked) reasons.unshift(`would be chosen, ${where}, but the placement falls short`)
      else if (picked.length === needed) reasons.unshift(`eligible, ${where}; ${notNeeded(verdict, picked)}`)
      else reasons.unshift(`eligible, ${where}`)
    }
    return {
      peerId: verdict.candidate.peerId,
      chosen: isPicked && commit,
      ...(verdict.rank == null ? {} : { rank: verdict.rank }),
      reasons,
    }
  })

  const result: Placement = { chosen, considered, satisfied, partial: commit && !satisfied }
  if (!satisfied) result.shortfall = shortfall(request, verdicts, eligible, replicas, sites)
  return result
}

interface Verdict {
  candidate: CandidateStatus
  eligible: boolean
  rank?: number
  /** The rules that excluded it, each with its reason. */
  blocks: Array<{ rule: string; reason: string }>
  /** Why the policies admit it, when they do. */
  admitted: string[]
}

function judge(candidate: CandidateStatus, request: PlacementRequest, data: CompiledPolicies): Verdict {
  const { manifest } = request
  const blocks: Verdict['blocks'] = []
  const block = (rule: string, reason: string) => {
    blocks.push({ rule, reason })
  }

  let host: CompiledPolicies | undefined
  if (candidate.hostPolicy != null) {
    try {
      host = compileHostPolicy(candidate.peerId, parseHostPolicy(candidate.hostPolicy))
    } catch (err) {
      if (!(err instanceof UnderstudyError)) throw err
      block('placement:bad-host-policy', `its advertised host policy does not load: ${err.message}`)
    }
  } else if (candidate.hostAnswer == null) {
    block(
      'placement:no-host-policy',
      'it advertised neither its host policy nor an answer, so its rules are unknown',
    )
  }
  if (candidate.hostAnswer?.decision === 'deny') {
    block(
      'placement:host-answer',
      `the host refused: ${candidate.hostAnswer.reasons.join('; ') || 'no reason given'}`,
    )
  }

  const decision = evaluate(host == null ? [BASE_POLICIES, data] : [BASE_POLICIES, data, host], {
    action: 'host-replica',
    principal: factsOf(candidate),
    resource: { manifest, ownerOrgs: request.ownerOrgs ?? [], epoch: 0, members: [] },
    context: { hour: candidate.localHour ?? -1 },
  })
  if (decision.decision === 'deny') {
    decision.policyIds.forEach((id, i) => {
      block(id, decision.reasons[i] ?? id)
    })
    if (decision.policyIds.length === 0) block('policy:default-deny', decision.reasons.join('; '))
  }

  const { memoryMiB, diskMiB } = manifest.resources
  if (candidate.memFreeMiB < memoryMiB) {
    block('capacity:memory', `needs ${memoryMiB} MiB of memory; ${Math.floor(candidate.memFreeMiB)} MiB free`)
  }
  if (candidate.diskFreeMiB != null && candidate.diskFreeMiB < diskMiB) {
    block('capacity:disk', `needs ${diskMiB} MiB of disk; ${Math.floor(candidate.diskFreeMiB)} MiB free`)
  }
  const admitted = decision.decision === 'allow' ? decision.reasons : []
  return { candidate, eligible: blocks.length === 0, blocks, admitted }
}

function excluded(candidate: CandidateStatus, rule: string, reason: string): Verdict {
  return { candidate, eligible: false, blocks: [{ rule, reason }], admitted: [] }
}

function factsOf(candidate: CandidateStatus): PeerFacts {
  return {
    id: candidate.peerId,
    org: candidate.org,
    site: candidate.site,
    labels: candidate.labels,
    idle: candidate.idle,
    load: {
      hostedWorkloads: candidate.hostedWorkloads,
      committedMemoryMiB: candidate.committedMemoryMiB ?? 0,
      committedDiskMiB: candidate.committedDiskMiB ?? 0,
      workloadCpuPercent: candidate.workloadCpuPercent ?? 0,
    },
  }
}

/**
 * Idle machines first (their owners are away); then roomier ones, compared in quarter
 * steps so a few MiB do not outweigh distance; then closer ones; then roomier exactly.
 */
function compareCandidates(a: Verdict, b: Verdict, manifest: Manifest): number {
  const x = a.candidate
  const y = b.candidate
  if (x.idle !== y.idle) return x.idle ? -1 : 1
  const roomX = roominess(x, manifest)
  const roomY = roominess(y, manifest)
  const tier = Math.floor(roomY * 4) - Math.floor(roomX * 4)
  if (tier !== 0) return tier
  if (x.rttMs !== y.rttMs) return x.rttMs - y.rttMs
  if (roomX !== roomY) return roomY - roomX
  return x.peerId < y.peerId ? -1 : x.peerId > y.peerId ? 1 : 0
}

/** 0..1: half from free cores (2 or more count as full), half from free memory (4× the need counts as full). */
function roominess(candidate: CandidateStatus, manifest: Manifest): number {
  const cpu = Math.min(Math.max(candidate.cpuFree, 0), 2) / 2
  const memory = Math.min(Math.max(candidate.memFreeMiB, 0) / (4 * manifest.resources.memoryMiB), 1)
  return (cpu + memory) / 2
}

function describe(candidate: CandidateStatus): string {
  const memory =
    candidate.memFreeMiB >= 1024
      ? `${(candidate.memFreeMiB / 1024).toFixed(1)} GiB`
      : `${Math.floor(candidate.memFreeMiB)} MiB`
  return [
    candidate.idle ? 'idle' : 'owner active',
    `${candidate.cpuFree.toFixed(1)} cores and ${memory} free`,
    `rtt ${candidate.rttMs.toFixed(1)} ms`,
    `site ${JSON.stringify(candidate.site)}`,
  ].join(', ')
}

function notNeeded(verdict: Verdict, picked: readonly Verdict[]): string {
  const sameSite = picked.find((other) => other.candidate.site === verdict.candidate.site)
  if (sameSite != null && (sameSite.rank ?? 0) < (verdict.rank ?? 0)) {
    return `not needed: site ${JSON.stringify(verdict.candidate.site)} already has a better-ranked replica and replicas go to distinct sites first`
  }
  return 'not needed: enough better-ranked peers'
}

/** Exclusions that say nothing about the policies: not counted as blockers. */
const SKIPPED = new Set(['placement:duplicate', 'placement:member'])

function shortfall(
  request: PlacementRequest,
  verdicts: readonly Verdict[],
  eligible: readonly Verdict[],
  replicas: number,
  sites: ReadonlySet<string>,
): string {
  const { manifest } = request
  const { minSites } = manifest.dataPolicy
  const want = `workload ${manifest.name} needs ${plural(manifest.replicas, 'replica')} in at least ${plural(minSites, 'distinct site')}`
  const problems: string[] = []
  if (replicas < manifest.replicas) {
    const newOnes = verdicts.filter((v) => !v.blocks.some((b) => SKIPPED.has(b.rule)))
    const placed = replicas === 0 ? 'none can be placed' : `only ${replicas} can be placed`
    problems.push(`${placed}: ${eligible.length} of ${plural(newOnes.length, 'candidate')} may hold it`)
  }
  // With fewer replicas than minSites the count is the root cause; name sites only when they are.
  if (sites.size < minSites && replicas >= minSites) {
    const have = [...sites]
    problems.push(
      `the data policy requires at least ${plural(minSites, 'distinct site')} (minSites), and the replicas can span only ${plural(sites.size, 'site')}${have.length > 0 ? ` (${oneOf(have)})` : ''}`,
    )
  }
  const blockers = new Map<string, { count: number; example: string }>()
  for (const verdict of verdicts) {
    for (const { rule, reason } of verdict.blocks) {
      if (SKIPPED.has(rule)) continue
      const entry = blockers.get(rule) ?? {
        count: 0,
        example: `${shortId(verdict.candidate.peerId)}: ${reason}`,
      }
      entry.count += 1
      blockers.set(rule, entry)
    }
  }
  const ranked = [...blockers.entries()].sort((a, b) => b[1].count - a[1].count)
  const blocked =
    ranked.length === 0
      ? ''
      : `; blocked by ${ranked.map(([rule, { count, example }]) => `${rule} on ${plural(count, 'peer')} (e.g. ${example})`).join(', ')}`
  return `${want}: ${problems.join('; ')}${blocked}`
}
