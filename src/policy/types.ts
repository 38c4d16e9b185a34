/**
 * What a decision is asked about and what it answers. The agent builds these facts from
 * verified manifests, peers' advertised status and its own state; the policy layer reads
 * no clock, file or socket of its own.
 */
import type { Manifest } from './documents.ts'
import type { PolicyAction } from './schema.ts'

/** What a host has committed to workloads, not counting the workload being decided. */
export interface HostLoad {
  hostedWorkloads: number
  committedMemoryMiB: number
  committedDiskMiB: number
  /** CPU used by hosted workloads, in percent of the whole machine. */
  workloadCpuPercent: number
}

/** A machine, as its status advertises it (or as this agent knows itself). */
export interface PeerFacts {
  /** libp2p peer id. */
  id: string
  org: string
  site: string
  labels: Record<string, string>
  /** The machine's owner is away. */
  idle: boolean
  load: HostLoad
}

/** A person; `orgs` come from a directory the deciding agent trusts, never from the user's own claim. */
export interface UserFacts {
  id: string
  orgs: string[]
}

/** A workload as the deciding agent knows it now. */
export interface WorkloadFacts {
  /** A verified manifest (verifyManifest): its data policy is the owner's. */
  manifest: Manifest
  /** The owner's orgs, from the deciding agent's trusted directory. */
  ownerOrgs?: string[]
  /** The current epoch of the replica group, as this agent knows it (0: none yet). */
  epoch?: number
  /** The primary of that epoch. */
  primary?: string
  /** Current members (primary and shadows), by peer id. */
  members?: string[]
}

export interface RequestContext {
  /** The deciding host's local hour of day, 0..23 (the caller reads the clock). */
  hour?: number
  /** send-entries: the epoch stamped on the incoming entries. */
  epoch?: number
  /** control: the operation asked for ('run', 'stop', 'failover', …). */
  op?: string
  /** The request came through this host's local control API, i.e. from its admin. */
  localAdmin?: boolean
}

/** Actions whose principal is a peer and whose resource is a workload. */
export type PeerWorkloadAction = Exclude<PolicyAction, 'control' | 'connect'>

/** One question: may `principal` do `action` on `resource`? */
export type DecisionRequest =
  | { action: PeerWorkloadAction; principal: PeerFacts; resource: WorkloadFacts; context?: RequestContext }
  | { action: 'control'; principal: UserFacts; resource: WorkloadFacts; context?: RequestContext }
  /** The connection gater: may `principal` connect to this host (`resource`)? */
  | { action: 'connect'; principal: PeerFacts; resource: PeerFacts; context?: RequestContext }

/** The answer, with the rules that decided it in words, for the audit log and `explain`. */
export interface Decision {
  decision: 'allow' | 'deny'
  /** One sentence per deciding rule; a deny always has at least one. */
  reasons: string[]
  /** The Cedar policy ids that decided ("data:allow-orgs", "host:idle-only", "admin:night", …). */
  policyIds: string[]
  action: PolicyAction
  /** Principal and resource ids, for the audit log. */
  principal: string
  resource: string
}

/** Facts for a peer known only by its id (the connection gater): no org, site or labels, not idle. */
export function unknownPeer(id: string): PeerFacts {
  return {
    id,
    org: '',
    site: '',
    labels: {},
    idle: false,
    load: { hostedWorkloads: 0, committedMemoryMiB: 0, committedDiskMiB: 0, workloadCpuPercent: 0 },
  }
}
