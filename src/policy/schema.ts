/**
 * The Cedar schema every understudy policy is checked against: generated policies in
 * tests, admin-written policies at load. Entities describe what a decision may look at;
 * the agent fills them from verified manifests, peers' advertised status and its own state.
 */

export const NAMESPACE = 'Understudy'

/** Every action a policy can decide. */
export const ACTIONS = [
  'host-replica',
  'receive-entries',
  'send-entries',
  'request-checkpoint',
  'be-witness',
  'control',
  'connect',
] as const

export type PolicyAction = (typeof ACTIONS)[number]

/** Actions that put a workload's data on the principal peer: the data policy governs them. */
export const DATA_ACTIONS = ['host-replica', 'receive-entries', 'send-entries', 'request-checkpoint'] as const

export const CEDAR_SCHEMA = `namespace ${NAMESPACE} {
  type RequestContext = {
    // The deciding host's local hour of day, 0..23; -1 when unknown.
    hour: Long,
    // send-entries: the epoch stamped on the entries; 0 otherwise.
    epoch: Long,
    // control: the operation ("run", "stop", "failover", …); "" otherwise.
    op: String,
    // The request came through this host's local control API (its admin).
    localAdmin: Bool,
  };

  // A person, known by the user id (Ed25519 peer id) of their key.
  entity User = {
    // Orgs the deciding agent trusts this user to belong to (its directory, not a claim).
    orgs: Set<String>,
  };

  // A machine in the mesh, known by its libp2p peer id; labels are tags (key -> value).
  // Load figures exclude the workload being decided.
  entity Peer = {
    org: String,
    site: String,
    idle: Bool,
    hostedWorkloads: Long,
    committedMemoryMiB: Long,
    committedDiskMiB: Long,
    workloadCpuPercent: Long,
  } tags String;

  // A replicated VM, id "<owner>/<name>", as the deciding agent knows it now.
  entity Workload = {
    name: String,
    owner: User,
    image: String,
    replicas: Long,
    memoryMiB: Long,
    diskMiB: Long,
    epoch: Long,
    primary?: Peer,
    members: Set<Peer>,
  };

  // Group: every action that puts the workload's data on the principal.
  action "holds-data";
  action "host-replica", "receive-entries", "send-entries", "request-checkpoint" in ["holds-data"]
    appliesTo { principal: [Peer], resource: [Workload], context: RequestContext };
  action "be-witness" appliesTo { principal: [Peer], resource: [Workload], context: RequestContext };
  action "control" appliesTo { principal: [User], resource: [Workload], context: RequestContext };
  action "connect" appliesTo { principal: [Peer], resource: [Peer], context: RequestContext };
}
`
