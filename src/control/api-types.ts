/**
 * The control API's wire contract, shared by the agent (server), the CLI and the TUI (client).
 * Request bodies have zod schemas (the server validates them); responses are plain JSON types.
 * Times are milliseconds since the Unix epoch; durations are milliseconds.
 */
import { z } from 'zod'

/** The version prefix of every route; a future incompatible API lives beside it as /v2. */
export const API_PREFIX = '/v1'

/** Where the agent's control API listens: a Unix socket (default) or loopback TCP with a bearer token. */
export type ControlAddress = { socketPath: string } | { host: string; port: number; token: string }

// ---- errors ----------------------------------------------------------------------------------------

/** Every non-2xx answer has this body; `code` is the UnderstudyError code (ERR_UNKNOWN_WORKLOAD, …). */
export interface ErrorBody {
  error: { code: string; message: string; reasons?: string[] }
}

// ---- agent and peers -------------------------------------------------------------------------------

export interface AgentStatus {
  peerId: string
  site: string
  org: string | undefined
  version: string
  startedAt: number
  uptimeMs: number
  /** Peers this agent is connected to. */
  peers: number
  /** Workloads this agent hosts a replica of. */
  workloads: number
}

export type PeerState = 'idle' | 'busy' | 'unreachable'

export interface PeerInfo {
  peerId: string
  /** This agent itself. */
  self: boolean
  site: string
  org: string | undefined
  labels: Record<string, string>
  /** idle: the machine's owner is away; busy: in use; unreachable: known but not answering. */
  state: PeerState
  capacity: { cpus: number; memoryMiB: number; freeMemoryMiB: number; diskMiB: number }
  /** Round-trip time of the last status exchange; null if not measured yet. */
  rttMs: number | null
  version: string | undefined
  /** Replicas it hosts, by workload name. */
  hosting: string[]
}

export interface PeersResponse {
  peers: PeerInfo[]
}

// ---- workloads -------------------------------------------------------------------------------------

export type ReplicaRole = 'primary' | 'shadow' | 'candidate' | 'pre-candidate' | 'unknown'

/** Whether this replica's state digest matched the primary's at the last checkpoint. */
export type DigestAgreement = 'agree' | 'diverged' | 'unknown'

export interface ReplicaInfo {
  peerId: string
  site: string
  role: ReplicaRole
  epoch: number
  committedSeq: number
  appliedSeq: number
  /** Entries behind the primary; null on the primary and when unknown. */
  lagEntries: number | null
  /** How far behind in time its applied state is; null on the primary and when unknown. */
  lagMs: number | null
  digest: DigestAgreement
  /** The first divergent entry when `digest` is 'diverged'. */
  divergedAtSeq: number | null
  reachable: boolean
  uptimeMs: number
  /** Its latest checkpoint: its log starts after it, and it restarts from it (0: none yet). */
  checkpointSeq?: number
}

export interface FailoverInfo {
  at: number
  from: string | undefined
  to: string
  epoch: number
  reason: 'drill' | 'failure' | 'lost-quorum'
  /** Failure detected (or drill asked) to the new primary serving. */
  tookMs: number
}

export type WorkloadState =
  | 'starting'
  | 'running'
  | 'degraded'
  | 'electing'
  | 'stopping'
  | 'stopped'
  | 'failed'

export interface WorkloadSummary {
  name: string
  /** The owner's user id (Ed25519 peer id). */
  owner: string
  state: WorkloadState
  replicasWanted: number
  replicas: ReplicaInfo[]
  primary: string | undefined
  epoch: number
  committedSeq: number
  startedAt: number
  uptimeMs: number
  lastFailover: FailoverInfo | undefined
}

export interface WorkloadsResponse {
  workloads: WorkloadSummary[]
}

export interface WorkloadDetail extends WorkloadSummary {
  /** The module's content hash. */
  image: string
  args: string[]
  /** The owner's data policy, in words (one line per rule). */
  dataPolicy: string[]
  /** Recent events of this workload, oldest first. */
  recentEvents: ControlEvent[]
}

export const workloadNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be 1-63 of a-z 0-9 . _ - starting with a letter or digit')

export const runRequestSchema = z.strictObject({
  name: workloadNameSchema,
  /** Absolute path of the WebAssembly module on the agent's machine. */
  image: z.string().min(1, 'must name the module file'),
  replicas: z.number().int().min(1).max(15),
  args: z.array(z.string()).max(1024).default([]),
  env: z.record(z.string(), z.string()).default({}),
  /** The owner-signed manifest, base64. */
  manifest: z.base64().optional(),
})
export type RunRequest = z.input<typeof runRequestSchema>
export type ValidRunRequest = z.output<typeof runRequestSchema>

export interface RunResponse {
  workload: WorkloadSummary
}

export const stopRequestSchema = z.strictObject({
  /** Keep the replicas' stored logs and checkpoints (default: delete them). */
  keepData: z.boolean().default(false),
})
export type StopRequest = z.input<typeof stopRequestSchema>
export type ValidStopRequest = z.output<typeof stopRequestSchema>

export interface StopResponse {
  name: string
  state: WorkloadState
}

export const failoverRequestSchema = z.strictObject({
  /** The shadow to hand the primary role to (default: the most caught-up one). */
  to: z.string().min(1).optional(),
})
export type FailoverRequest = z.input<typeof failoverRequestSchema>
export type ValidFailoverRequest = z.output<typeof failoverRequestSchema>

export interface FailoverResponse {
  name: string
  from: string
  to: string
  epoch: number
  tookMs: number
}

export interface PlacementCandidate {
  peerId: string
  site: string
  org: string | undefined
  chosen: boolean
  role: ReplicaRole | undefined
  /** Why it was or was not chosen, one sentence per rule. */
  reasons: string[]
}

export interface Explanation {
  name: string
  decidedAt: number
  summary: string
  candidates: PlacementCandidate[]
}

// ---- guest I/O -------------------------------------------------------------------------------------

/** A piece of the guest's released output (output commit: its entry is committed). */
export interface LogChunk {
  /** Byte offset of this chunk in the workload's released output, stdout and stderr together. */
  offset: number
  /** The log entry that produced it. */
  seq: number
  stream: 'stdout' | 'stderr'
  /** The bytes, base64. */
  data: string
}

export const logsQuerySchema = z.strictObject({
  /** Start at this byte offset (default 0). Resuming a follow passes the last chunk's end. */
  from: z.coerce.number().int().min(0).default(0),
  /** Stream new output as it is released (server-sent events) instead of answering once. */
  follow: z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1')
    .default(false),
})
export type LogsQuery = z.output<typeof logsQuerySchema>

export interface LogsResponse {
  chunks: LogChunk[]
  /** The offset to ask from next time. */
  next: number
}

export const stdinRequestSchema = z.strictObject({
  /** Bytes for the guest's stdin, base64. */
  data: z.base64(),
  /** Close the guest's stdin after these bytes. */
  eof: z.boolean().default(false),
})
export type StdinRequest = z.input<typeof stdinRequestSchema>
export type ValidStdinRequest = z.output<typeof stdinRequestSchema>

export interface StdinResponse {
  /** Bytes accepted: logged as an input entry by the primary. */
  accepted: number
  /** The entry that carries them. */
  seq: number
}

// ---- events ----------------------------------------------------------------------------------------

/** What the agent reports as it happens; the TUI's live feed. */
export type ControlEventBody =
  | {
      type: 'election'
      workload: string
      candidate: string
      epoch: number
      outcome: 'started' | 'won' | 'lost'
    }
  | {
      type: 'promotion'
      workload: string
      peerId: string
      epoch: number
      /** Detection, election and promotion, summed. */
      tookMs: number
      detectionMs: number | undefined
      electionMs: number | undefined
      promotionMs: number | undefined
    }
  | { type: 'step-down'; workload: string; peerId: string; epoch: number; reason: string }
  | {
      type: 'repair'
      workload: string
      peerId: string
      phase: 'started' | 'done' | 'failed'
      reason: string | undefined
    }
  | {
      type: 'policy-refusal'
      workload: string | undefined
      action: string
      principal: string
      reasons: string[]
    }
  | { type: 'divergence'; workload: string; peerId: string; seq: number; expected: string; got: string }
  | { type: 'workload'; workload: string; state: WorkloadState; reason: string | undefined }
  | { type: 'peer'; peerId: string; state: 'joined' | 'left' | PeerState }

export type ControlEventType = ControlEventBody['type']

/** An event as delivered: `id` orders events and resumes a dropped stream (Last-Event-ID). */
export type ControlEvent = ControlEventBody & { id: string; time: number }

/** The first SSE event of every connection. */
export interface HelloEvent {
  /** Changes when the agent restarts: event ids from another boot cannot be resumed. */
  bootId: string
  /** Comment lines come at least this often; a client that hears nothing for longer may reconnect. */
  heartbeatMs: number
}

/** Sent after hello when a resume could not be honoured: the client missed events and should refetch. */
export interface GapEvent {
  reason: 'restarted' | 'overflow'
}

export const eventsQuerySchema = z.strictObject({
  /** Without Last-Event-ID: first replay up to this many recent events. */
  backlog: z.coerce.number().int().min(0).max(10_000).default(0),
  /** Same as the Last-Event-ID header (for clients that cannot set headers). */
  lastEventId: z.string().max(200).optional(),
})
