/**
 * The contracts between the parts of the machine (src/replay):
 *
 *   WASI host (wasi/)  --Tape-->  recorder / replayer (log/)  --LogEntry-->  log file, mesh
 *   WASI host (wasi/)  <--imports/memory--  WebAssembly runtime with Asyncify (wasm/)
 *
 * Nothing here knows about the network.
 */

/** A value that is ready now, or later (the guest then blocks, and Asyncify unwinds it). */
export type MaybePromise<T> = T | Promise<T>

/** Arguments of a host call as the guest passed them (i32 as number, i64 as bigint). */
export type CallArg = number | bigint

/** Kinds of log entries. Numeric values are part of the wire and file format: never reuse one. */
export const EntryKind = {
  /** The result of a nondeterministic host call (clock, random, stdin read, poll, ...). */
  Call: 1,
  /** An input that comes from outside the guest's calls: start parameters, the seeded disk. */
  Input: 2,
  /** A digest of output the guest produced (stdout, stderr, later sockets). */
  Output: 3,
  /** A checkpoint was taken at this position; payload carries the state digest. */
  Checkpoint: 4,
  /** A new primary took over at this epoch. */
  EpochStart: 5,
  /** The guest's terminal outcome and its final state digest. */
  Exit: 6,
} as const
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind]

/**
 * One entry of a deterministic execution log. `prevHash` is the running hash of
 * the whole log before this entry (32 bytes, SHA-256), so two replicas that
 * disagree find out at the first differing entry.
 */
export interface LogEntry {
  seq: number
  epoch: number
  kind: EntryKind
  payload: Uint8Array
  prevHash: Uint8Array
}

/** How a guest run ended. */
export type Outcome =
  | { kind: 'exit'; code: number }
  | { kind: 'trap'; message: string }
  | { kind: 'stack-overflow' }

/**
 * The channel through which the WASI host obtains every nondeterministic value.
 * A recorder runs the live operation and appends an entry; a replayer answers
 * from the log and checks that the guest asked the same question.
 */
export interface Tape {
  readonly mode: 'record' | 'replay'
  /** Number of entries appended (record) or consumed (replay) so far; the next entry's seq. */
  readonly position: number

  /**
   * A nondeterministic host call. Record: runs `live` (a Promise means the guest
   * blocks), appends a Call entry `{fn, args, result}` and returns `result`.
   * Replay: returns the recorded result of the next entry after checking that it
   * is a Call with the same fn and args, else throws DivergenceError. May return
   * a Promise in replay too, when the next entry has not arrived yet.
   */
  call(fn: string, args: readonly CallArg[], live: () => MaybePromise<Uint8Array>): MaybePromise<Uint8Array>

  /**
   * An input from outside (name is e.g. 'start' or 'disk'). Record: appends an
   * Input entry with live()'s bytes. Replay: returns the recorded bytes after
   * checking the name.
   */
  input(name: string, live: () => Uint8Array): MaybePromise<Uint8Array>

  /**
   * The guest produced output on `stream` (1 stdout, 2 stderr). Record: appends an
   * Output entry with its digest. Replay: checks the digest, throws DivergenceError
   * on a mismatch (the first differing output is caught at once).
   */
  output(stream: number, bytes: Uint8Array): MaybePromise<void>

  /** The run ended. Record: appends an Exit entry. Replay: checks it. */
  exit(outcome: Outcome, stateDigest: Uint8Array): MaybePromise<void>

  /**
   * The machine paused while a call was blocked: forget that call (it is made
   * again on resume) so the tape neither records nor consumes anything for it.
   */
  abandon?(): void
}
