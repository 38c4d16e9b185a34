/**
 * `understudy demo`: three real agents (separate `understudy agent` processes, each with its own data
 * directory and site) on 127.0.0.1, the kv guest replicated three ways, a client writing to it, the
 * primary's agent killed with SIGKILL, a shadow elected in its place, every acknowledged write read back,
 * and the killed agent brought back as a shadow. Everything is removed afterwards, also on Ctrl-C.
 */

export interface DemoOptions {
  /** Where the human-readable account goes, a line at a time. */
  write: (line: string) => void
  /** Cancels the demo (Ctrl-C); it still cleans up. */
  signal?: AbortSignal
  /** The whole demo must end within this (default 120 s). */
  timeoutMs?: number
}

export interface AgentSummary {
  name: string
  site: string
  peerId: string
  pid: number
}

export interface ReplicaPlacement {
  site: string
  peerId: string
  role: string
}

export interface PlacementSummary {
  name: string
  image: string
  replicas: ReplicaPlacement[]
  primary: string
  epoch: number
}

export interface WritesSummary {
  /** Writes the client was told succeeded (before the kill, then after the failover). */
  acknowledged: number
  beforeKill: number
  afterFailover: number
  /** Send to acknowledgement, over the writes before the kill. */
  latencyMs: { median: number; max: number }
}

export interface CaughtUpSummary {
  committedSeq: number
  /** Each shadow's replay position and whether its state digest matched the primary's at the last mark. */
  shadows: { site: string; peerId: string; appliedSeq: number; digest: string }[]
}

export interface KilledSummary {
  name: string
  site: string
  peerId: string
  pid: number
  signal: 'SIGKILL'
  /** The epoch it was primary in. */
  epoch: number
}

export interface FailoverSummary {
  newPrimary: { name: string; site: string; peerId: string }
  epoch: number
  /** From the new primary's 'promotion' event: silence noticed → election won → guest live. */
  tookMs: number
  detectionMs: number | undefined
  electionMs: number | undefined
  promotionMs: number | undefined
}

export interface CheckSummary {
  /** Keys the client had been acknowledged, looked up through the new primary (KEYS). */
  keysChecked: number
  keysFound: number
  lost: number
  lostKeys: string[]
}

export interface RejoinSummary {
  name: string
  site: string
  peerId: string
  pid: number
  role: string
  epoch: number
  appliedSeq: number
  committedSeq: number
}

export interface CleanupSummary {
  tempDir: string
  tempDirRemoved: boolean
  /** Every agent process the demo started (a restarted agent has a second pid). */
  pids: number[]
  allExited: boolean
}

export interface DemoSummary {
  ok: boolean
  /** What failed, when ok is false. */
  error?: string
  durationMs: number
  agents?: AgentSummary[]
  workload?: PlacementSummary
  writes?: WritesSummary
  caughtUp?: CaughtUpSummary
  killed?: KilledSummary
  failover?: FailoverSummary
  check?: CheckSummary
  rejoined?: RejoinSummary
  cleanup: CleanupSummary
}

export { DemoError } from './demo-error.ts'
export { runDemo } from './run-demo.ts'
