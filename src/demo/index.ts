/**
 * `understudy demo`: three agents as separate processes on loopback, a kv guest
 * recorded on one and replayed on two others as its log streams over the mesh,
 * then the primary killed to show that nothing a client was told is lost.
 */
import type { PeerView, PrimaryResult } from './messages.ts'

export interface DemoOptions {
  /** Where the human-readable account goes, a line at a time. */
  write: (line: string) => void
  /** Cancels the demo (Ctrl-C); it still cleans up. */
  signal?: AbortSignal
  /** The whole demo must end within this (default 60 s). */
  timeoutMs?: number
}

export interface AgentSummary {
  name: string
  site: string
  role: 'primary' | 'shadow'
  peerId: string
  pid: number
  /** The agent made its identity in this run (false: it loaded one). */
  identityCreated: boolean
  /** The other agents it listed through the status protocol. */
  sees: PeerView[]
}

export interface RequestSummary {
  request: string
  expected: string
  reply: string
  /** The Output entry that carried the reply; every shadow had stored it when the reply was released. */
  seq: number
  hash: string
}

export interface ShadowSummary {
  name: string
  site: string
  stored: number
  replayed: number
  digest: string
  outcome: string
  sameDigestAsPrimary: boolean
}

export interface KilledSummary {
  pid: number
  signal: 'SIGKILL'
  /** The last entry behind a reply the client was given, and the log's hash up to it. */
  acknowledgedSeq: number
  acknowledgedHash: string
  shadows: {
    name: string
    site: string
    /** Entries read back from the shadow's own disk after the kill. */
    stored: number
    chainIntact: boolean
    hashAtAcknowledged?: string
    holdsAcknowledged: boolean
    /** It holds the primary's whole log, with the same final hash. */
    holdsWholeLog: boolean
  }[]
}

export interface CleanupSummary {
  tempDir: string
  tempDirRemoved: boolean
  pids: number[]
  allExited: boolean
}

export interface DemoSummary {
  ok: boolean
  /** What failed, when ok is false. */
  error?: string
  durationMs: number
  agents?: AgentSummary[]
  requests?: RequestSummary[]
  primary?: PrimaryResult & { name: string; site: string }
  shadows?: ShadowSummary[]
  afterKill?: KilledSummary
  cleanup: CleanupSummary
}

export { DemoError } from './demo-error.ts'
export { runDemo } from './run-demo.ts'
