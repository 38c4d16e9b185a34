/**
 * The replica-group protocol's contracts. The protocol is a pure state machine: messages and ticks go
 * in, a Ready batch comes out (entries and hard state to persist, messages to send, committed entries
 * to apply, outputs to release). It knows nothing of the network, the disk, clocks or the machine:
 * entry data is opaque bytes, time is ticks, randomness is injected.
 *
 * Sequence numbers start at 1; seq 0 with epoch 0 is the position before the first entry.
 *
 * Membership changes (repair): the configuration is a log entry of kind 'config' (membership.ts has
 * the rules, membership-codec.ts the bytes). One member is added or removed at a time; the
 * configuration in effect is the latest one in the log, committed or not; a new change may be
 * proposed only once the previous one and an entry of the primary's own epoch are committed. A new
 * member joins as a learner (it gets the log but neither votes nor counts toward a majority) and the
 * primary promotes it to voter by a second config entry once its log is within `catchUpEntries` of
 * the primary's.
 *
 * Group seq and machine seq: a config entry takes a group seq like any entry but is not the
 * machine's. The agent skips entries with `entry.kind === 'config'` when feeding committed entries
 * to the machine, and keeps the machine's position itself (the machine seq is inside each normal or
 * epoch-start entry's data): "machine seq = group seq - 1" holds only until the first membership
 * change. propose() returns the group seq of the entry it appended; that is the seq to give
 * attachOutput() for output of that machine entry.
 */

export type MemberId = string

/**
 * A group configuration. `members` vote and make up the majorities that commit and elect;
 * `learners` receive the log (and apply it) but neither vote nor count until promoted.
 */
export interface Membership {
  members: readonly MemberId[]
  learners: readonly MemberId[]
}

export interface GroupConfig {
  /**
   * The initial configuration's voting members. The latest config entry in the stored log, or the
   * stored checkpoint's members, replace it. A majority of the configuration in effect commits and
   * elects.
   */
  members: readonly MemberId[]
  /**
   * The initial configuration's learners. A member that joins an existing group (repair) lists itself
   * here, with `members` set to the group's voters as the primary reported them: until the log gives
   * it the real configuration it never campaigns, and nothing it assumed counts as having been a
   * member (so replaying old config entries does not make it 'removed').
   */
  learners?: readonly MemberId[] | undefined
  /** The primary promotes a learner once its log is within this many entries (default maxBatchEntries). */
  catchUpEntries?: number | undefined
  /** The primary sends a heartbeat to each shadow every this many ticks when idle. */
  heartbeatTicks: number
  /**
   * A shadow that hears nothing from a primary for a random number of ticks in
   * [electionTicks, 2 * electionTicks) starts an election; a primary that has not heard from a
   * majority within electionTicks steps down.
   */
  electionTicks: number
  /** At most this many entries in one AppendEntries. */
  maxBatchEntries: number
  /** Entry bytes sent to one shadow and not yet acknowledged; also the largest AppendEntries. */
  maxInflightBytes: number
}

export type Role = 'shadow' | 'pre-candidate' | 'candidate' | 'primary'

/** 'config': a membership change, for the group only; never feed it to the machine (see above). */
export type EntryKind = 'normal' | 'epoch-start' | 'config'

export interface Entry {
  seq: number
  epoch: number
  kind: EntryKind
  /**
   * Normal and epoch-start: opaque to the group, the machine's log entries, already encoded (empty for
   * an epoch start unless the caller provides epochStartData). Config: an encoded Membership
   * (decodeMembership in membership-codec.ts).
   */
  data: Uint8Array
}

/** A point in the log: the seq of an entry and the epoch it was written in. */
export interface LogPosition {
  seq: number
  epoch: number
}

/** A checkpoint of the machine taken after entry `seq`; `ref` tells the caller where its bytes are. */
export interface Checkpoint {
  seq: number
  epoch: number
  ref: Uint8Array
  /**
   * The configuration in effect at `seq` (config entries up to it are compacted away). Absent when
   * the member did not know it (stores written before membership changes, or a joining member's
   * placeholder configuration): then the member's GroupConfig stands in.
   */
  members?: readonly MemberId[] | undefined
  learners?: readonly MemberId[] | undefined
}

/** What must survive a crash, persisted before any message that depends on it is sent. */
export interface HardState {
  epoch: number
  votedFor: MemberId | undefined
  commitSeq: number
}

/** Everything that was durable at the last advance(); a member restarts from it. */
export interface PersistedState {
  hardState: HardState
  checkpoint?: Checkpoint | undefined
  /** The log after the checkpoint, in seq order, without gaps. */
  entries: readonly Entry[]
}

interface Envelope {
  from: MemberId
  to: MemberId
  epoch: number
}

/** Entries after `prev`, from the primary of `epoch`. With no entries it is a probe. */
export interface AppendEntries extends Envelope {
  type: 'append'
  prev: LogPosition
  entries: Entry[]
  leaderCommit: number
}

/**
 * The answer to AppendEntries. Accepted: the shadow's log matches the primary's up to `matchSeq`.
 * Rejected: the shadow has no entry at `rejectedSeq` with that epoch; `hint` is the last position
 * where the logs may agree, so the primary skips a whole conflicting epoch at once. A rejection from
 * a newer epoch is fencing: the sender is no longer primary.
 */
export interface AppendResponse extends Envelope {
  type: 'append-response'
  reject: boolean
  matchSeq: number
  rejectedSeq: number
  hint: LogPosition
}

/** Liveness from the primary; carries the commit seq up to what this shadow is known to hold. */
export interface Heartbeat extends Envelope {
  type: 'heartbeat'
  leaderCommit: number
}

export interface HeartbeatResponse extends Envelope {
  type: 'heartbeat-response'
}

/** "Could I win epoch `epoch`?" Asked before a real election; nobody changes state for it. */
export interface PreVote extends Envelope {
  type: 'pre-vote'
  last: LogPosition
}

export interface PreVoteResponse extends Envelope {
  type: 'pre-vote-response'
  granted: boolean
}

export interface RequestVote extends Envelope {
  type: 'request-vote'
  last: LogPosition
  /** Sent because the primary handed over (TimeoutNow): members that still follow it must answer. */
  transfer: boolean
}

export interface VoteResponse extends Envelope {
  type: 'vote-response'
  granted: boolean
}

/** The primary asks this caught-up shadow to start an election now (the failover drill). */
export interface TimeoutNow extends Envelope {
  type: 'timeout-now'
}

/** The shadow needs entries the primary has compacted: restore from this checkpoint instead. */
export interface InstallCheckpoint extends Envelope {
  type: 'install-checkpoint'
  checkpoint: Checkpoint
}

export interface CheckpointResponse extends Envelope {
  type: 'checkpoint-response'
  reject: boolean
  matchSeq: number
}

export type Message =
  | AppendEntries
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | PreVote
  | PreVoteResponse
  | RequestVote
  | VoteResponse
  | TimeoutNow
  | InstallCheckpoint
  | CheckpointResponse

export type MessageType = Message['type']

/** An output the primary's machine produced while making entry `seq`, held until that entry commits. */
export interface OutputTicket<O = unknown> {
  seq: number
  epoch: number
  output: O
}

export type GroupEvent =
  | { type: 'election-started'; epoch: number; preVote: boolean; transfer: boolean }
  | { type: 'became-primary'; epoch: number; epochStartSeq: number }
  /**
   * The machine may have run live past commitSeq: entries after it may be cut, restore from a checkpoint.
   * 'removed': this primary's removal of itself committed (it handed over first when it could).
   */
  | {
      type: 'stepped-down'
      epoch: number
      reason: 'newer-epoch' | 'lost-quorum' | 'removed'
      commitSeq: number
      lastSeq: number
    }
  /** Outputs of entries not known to be committed when this member stopped being primary: never released. */
  | { type: 'outputs-discarded'; epoch: number; count: number; fromSeq: number }
  /** A conflicting uncommitted tail was cut; a machine that ran past fromSeq - 1 must be rebuilt. */
  | { type: 'log-truncated'; fromSeq: number; dropped: number }
  | { type: 'checkpoint-sent'; to: MemberId; seq: number }
  | { type: 'checkpoint-installed'; seq: number; epoch: number }
  | { type: 'transfer-started'; to: MemberId }
  | { type: 'transfer-aborted'; to: MemberId }
  /**
   * The configuration in effect changed (a config entry appended, received, cut or restored from a
   * checkpoint: committed false unless already committed) or became committed (committed true).
   * `seq` is its config entry's (a checkpoint's seq when it came with one).
   */
  | {
      type: 'config-changed'
      members: readonly MemberId[]
      learners: readonly MemberId[]
      seq: number
      committed: boolean
    }
  /**
   * A committed configuration leaves this member out (after one that had it): it no longer campaigns.
   * The agent may stop hosting it. Also reported in the first Ready after a restart of a removed member.
   */
  | { type: 'removed'; seq: number }

export interface RoleChange {
  role: Role
  epoch: number
  leader: MemberId | undefined
}

/**
 * One batch of work for the caller, handled in this order: truncate the stored log from
 * `truncateFrom`; store `checkpoint` (restoring the machine from it when `restore`) and drop the log up
 * to it; append `entriesToPersist`; store `hardState`. Only then send `messages`, apply
 * `committedToApply` to the machine, release `outputsToRelease` to clients, and call advance(ready).
 */
export interface Ready<O = unknown> {
  hardState?: HardState | undefined
  truncateFrom?: number | undefined
  checkpoint?: { checkpoint: Checkpoint; restore: boolean } | undefined
  entriesToPersist: Entry[]
  messages: Message[]
  committedToApply: Entry[]
  outputsToRelease: OutputTicket<O>[]
  roleChange?: RoleChange | undefined
  events: GroupEvent[]
}

export type ProgressState = 'probe' | 'replicate' | 'checkpoint'

export interface FollowerStatus {
  member: MemberId
  /** 'leaving': removed by the latest configuration, still told about its removal for a while. */
  membership: 'voter' | 'learner' | 'leaving'
  state: ProgressState
  matchSeq: number
  nextSeq: number
  /** Entries the primary holds that this shadow has not acknowledged. */
  lag: number
  inflightBytes: number
  recentActive: boolean
}

export interface GroupStatus {
  id: MemberId
  role: Role
  epoch: number
  leader: MemberId | undefined
  votedFor: MemberId | undefined
  commitSeq: number
  appliedSeq: number
  /** Last seq known to be durable here. */
  stableSeq: number
  firstSeq: number
  lastSeq: number
  /** Per shadow, filled only on the primary. */
  followers: FollowerStatus[]
  transferringTo: MemberId | undefined
  /** The configuration in effect (the latest in the log, committed or not). */
  members: readonly MemberId[]
  learners: readonly MemberId[]
  /** The seq of its config entry (or of the checkpoint that carried it; 0 for the initial one). */
  configSeq: number
  /** configSeq while that configuration is not committed: no new change may be proposed until it is. */
  pendingConfigSeq: number | undefined
  /** A committed configuration left this member out: it does not campaign. */
  removed: boolean
}
