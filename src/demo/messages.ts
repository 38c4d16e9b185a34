/**
 * What the demo's conductor (the `understudy demo` process) and its agent processes say
 * to each other over the Node IPC channel: typed requests with an id, one answer each.
 * Bytes travel as hex so every message is plain JSON.
 */

/** A peer an agent found through the mesh's status protocol. */
export interface PeerView {
  peerId: string
  site: string
  via: string
}

/** Where a shadow stands: entries stored durably, entries replayed, and how its replay ended. */
export interface ShadowProgress {
  stored: number
  /** Highest seq the primary said is committed (-1 for none). */
  commitSeq: number
  replayed: number
  done: boolean
  /** Final state digest (hex) once the replay ended. */
  digest?: string
  outcome?: string
  /** Why the replay failed (divergence, corrupt entry...). */
  error?: string
}

/** One client request answered by the primary, released once every shadow stored its entries. */
export interface Reply {
  reply: string
  /** seq of the Output entry that carried the reply. */
  seq: number
  /** Hash of the log up to and including that entry (hex). */
  hash: string
}

export interface PrimaryResult {
  entries: number
  digest: string
  outcome: string
  /** Hash of the whole log (hex). */
  lastHash: string
  /** Every shadow acknowledged every entry. */
  ackedByAll: number
}

/** A shadow's log re-read from its own disk, with the hash chain checked. */
export interface StoredLog {
  stored: number
  chainIntact: boolean
  /** Why the chain does not check out. */
  chainError?: string
  /** Hash of the stored log up to and including entry `seq` (hex); absent if it does not hold `seq`. */
  hashAt?: string
  /** Hash of the whole stored log (hex). */
  lastHash: string
}

/** Every operation an agent answers: its arguments and its result. */
export interface AgentOps {
  peers: { args: { timeoutMs: number }; result: PeerView[] }
  shadow: { args: { logId: string; imagePath: string }; result: null }
  primary: { args: { logId: string; imagePath: string; shadows: string[] }; result: null }
  request: { args: { line: string }; result: Reply }
  finish: { args: Record<string, never>; result: PrimaryResult }
  progress: { args: Record<string, never>; result: ShadowProgress }
  verify: { args: { seq: number }; result: StoredLog }
}

export type AgentOp = keyof AgentOps

export type AgentRequest = { [K in AgentOp]: { id: number; op: K; args: AgentOps[K]['args'] } }[AgentOp]

export type AgentAnswer =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string; code?: string }

/** The first message of an agent, once it listens. */
export interface AgentReady {
  type: 'ready'
  peerId: string
  addrs: string[]
  identityCreated: boolean
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}
