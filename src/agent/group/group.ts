import { ConfigError, GroupStateError, MembershipChangeError, NotPrimaryError } from '../../errors/index.ts'
import { entryBytes, GroupLog } from './log.ts'
import { hasMember, planChange, promote, quorumOf } from './membership.ts'
import { encodeMembership } from './membership-codec.ts'
import { Progress } from './progress.ts'
import type {
  AppendEntries,
  AppendResponse,
  Checkpoint,
  CheckpointResponse,
  Entry,
  GroupConfig,
  GroupEvent,
  GroupStatus,
  HardState,
  InstallCheckpoint,
  MemberId,
  Membership,
  Message,
  OutputTicket,
  PersistedState,
  PreVote,
  Ready,
  RequestVote,
  Role,
  RoleChange,
} from './types.ts'

export interface MemberInit {
  id: MemberId
  config: GroupConfig
  /** Uniform in [0, 1); the only source of randomness (election timeout jitter). Seed it in tests. */
  random: () => number
  /** What was durable when this member last stopped; absent for a new member. */
  storage?: PersistedState | undefined
  /** The machine already reflects the entries up to here (default: the stored checkpoint's seq). */
  appliedSeq?: number | undefined
  /**
   * The data of the epoch-start entry a new primary appends (default: empty), e.g. the machine's own
   * encoded EpochStart entry. `previous` is the last entry before it that is not a config entry (the
   * machine's last entry), unless compacted. Must be pure.
   */
  epochStartData?: ((epoch: number, seq: number, previous: Entry | undefined) => Uint8Array) | undefined
}

type Send = Message extends infer M
  ? M extends Message
    ? Omit<M, 'from' | 'epoch'> & { epoch?: number }
    : never
  : never

const EMPTY = new Uint8Array(0)

/**
 * One member of a replica group, as a pure state machine in the manner of etcd/raft: feed it
 * messages (step), time (tick) and proposals; take a Ready batch, do its I/O in the documented order,
 * then advance(ready). Nothing leaves this object except through a Ready.
 */
export class ReplicaGroupMember<O = unknown> {
  readonly id: MemberId
  readonly #config: GroupConfig
  readonly #catchUpEntries: number
  readonly #random: () => number
  readonly #epochStartData: NonNullable<MemberInit['epochStartData']>
  readonly #log: GroupLog

  #role: Role = 'shadow'
  #epoch = 0
  #votedFor: MemberId | undefined
  #leader: MemberId | undefined
  #commitSeq = 0
  /** Applied per the caller's last advance(). */
  #appliedSeq: number
  /** Highest seq handed out in committedToApply. */
  #applyCursor: number
  /** Highest seq known durable (confirmed by advance). */
  #stableSeq: number
  /** Highest seq handed out in entriesToPersist. */
  #persistCursor: number
  #pendingTruncate: number | undefined
  #pendingCheckpoint: { checkpoint: Checkpoint; restore: boolean } | undefined
  #reportedHardState: HardState
  #reportedRole: RoleChange

  #messages: Message[] = []
  #events: GroupEvent[] = []
  #pendingOutputs: OutputTicket<O>[] = []
  /** Outputs whose entries are committed, waiting for the next Ready (kept when stepping down). */
  #releasable: OutputTicket<O>[] = []

  #now = 0
  #electionElapsed = 0
  #heartbeatElapsed = 0
  #electionTimeout = 0
  #votes = new Map<MemberId, boolean>()
  #progress = new Map<MemberId, Progress>()
  #transfer: { to: MemberId; elapsed: number; sent: boolean } | undefined
  #appendsDue = false

  /** A configuration that really held this member has been seen (a joiner's placeholder does not count). */
  #wasMember: boolean
  /** This primary's removal of itself committed: it hands over, then steps down. */
  #leaving = false
  #reportedConfig: string
  #reportedRemoved = false

  constructor(init: MemberInit) {
    validateConfig(init.config, init.id)
    this.id = init.id
    this.#config = init.config
    this.#catchUpEntries = init.config.catchUpEntries ?? init.config.maxBatchEntries
    this.#random = init.random
    this.#epochStartData = init.epochStartData ?? (() => EMPTY)

    const stored = init.storage
    const initial: Membership = { members: init.config.members, learners: init.config.learners ?? [] }
    // A joiner (listed as a learner) only assumes its initial configuration until the log tells it.
    const known = initial.members.includes(init.id)
    this.#log = new GroupLog(stored?.checkpoint, stored?.entries ?? [], {
      membership: initial,
      seq: 0,
      known,
    })
    this.#wasMember = this.#log.everIncluded(init.id)
    if (stored) {
      this.#epoch = stored.hardState.epoch
      this.#votedFor = stored.hardState.votedFor
      this.#commitSeq = stored.hardState.commitSeq
    }
    const checkpointSeq = this.#log.checkpoint.seq
    if (this.#commitSeq < checkpointSeq) this.#commitSeq = checkpointSeq
    if (this.#commitSeq > this.#log.lastSeq()) {
      throw new GroupStateError(
        `stored commit seq ${this.#commitSeq} is past the stored log (${this.#log.lastSeq()})`,
      )
    }
    this.#appliedSeq = Math.min(Math.max(init.appliedSeq ?? checkpointSeq, checkpointSeq), this.#commitSeq)
    this.#applyCursor = this.#appliedSeq
    this.#stableSeq = this.#log.lastSeq()
    this.#persistCursor = this.#log.lastSeq()
    this.#reportedHardState = this.#hardState()
    this.#reportedRole = this.#roleState()
    // The caller knows the configuration it starts with (status()); only changes are reported.
    this.#reportedConfig = this.#configKey()
    this.#resetElectionTimeout()
  }

  // ---- inputs ------------------------------------------------------------------------------------

  /** One unit of time. Shadows count toward an election; the primary heartbeats and checks its quorum. */
  tick(): void {
    this.#tick()
    this.#reportConfig()
  }

  step(m: Message): void {
    this.#step(m)
    // Configuration events are noted after each input, so they keep their order with elections.
    this.#reportConfig()
  }

  #tick(): void {
    this.#now++
    if (this.#role === 'primary') {
      this.#tickPrimary()
      return
    }
    this.#electionElapsed++
    if (this.#electionElapsed >= this.#electionTimeout) {
      this.#electionElapsed = 0
      if (this.#canCampaign()) this.#campaign('pre-vote')
      else if (this.#role !== 'shadow') this.#becomeShadow(this.#epoch, undefined, 'newer-epoch')
    }
  }

  #step(m: Message): void {
    if (m.to !== this.id) throw new GroupStateError(`message for ${m.to} delivered to ${this.id}`)
    // Any sender is heard, as in Raft: a primary may not be in our latest configuration (it is removing
    // itself) and a joiner is in nobody's yet. Only voters' votes count and only tracked members'
    // answers are used; which peers may talk to the group at all is the agent's policy.
    if (m.from === this.id) return

    if (m.epoch > this.#epoch) {
      const isVote = m.type === 'pre-vote' || m.type === 'request-vote'
      const forced = m.type === 'request-vote' && m.transfer
      // A member that hears from a live primary ignores candidates: a member that was cut off cannot
      // disrupt a healthy group when it returns.
      if (isVote && !forced && this.#inLease()) return
      if (m.type === 'pre-vote' || (m.type === 'pre-vote-response' && m.granted)) {
        // Pre-votes are asked and granted for a future epoch that nobody adopts yet.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'install-checkpoint') {
        this.#becomeShadow(m.epoch, m.from, 'newer-epoch')
      } else {
        this.#becomeShadow(m.epoch, undefined, 'newer-epoch')
      }
    } else if (m.epoch < this.#epoch) {
      this.#refuseStale(m)
      return
    }

    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'install-checkpoint':
        if (this.#role === 'primary') {
          throw new GroupStateError(`two primaries in epoch ${this.#epoch}: ${this.id} and ${m.from}`)
        }
        if (this.#role !== 'shadow') this.#becomeShadow(m.epoch, m.from, 'newer-epoch')
        this.#electionElapsed = 0
        this.#leader = m.from
        if (m.type === 'append') this.#handleAppend(m)
        else if (m.type === 'heartbeat') this.#handleHeartbeat(m.from, m.leaderCommit)
        else this.#handleCheckpoint(m)
        return
      case 'append-response':
        if (this.#role === 'primary') this.#onAppendResponse(m)
        return
      case 'heartbeat-response':
        if (this.#role === 'primary') this.#onHeartbeatResponse(m.from)
        return
      case 'checkpoint-response':
        if (this.#role === 'primary') this.#onCheckpointResponse(m)
        return
      case 'pre-vote':
      case 'request-vote':
        this.#handleVoteRequest(m)
        return
      case 'pre-vote-response':
        if (this.#role === 'pre-candidate') this.#poll(m.from, m.granted)
        return
      case 'vote-response':
        if (this.#role === 'candidate') this.#poll(m.from, m.granted)
        return
      case 'timeout-now':
        if (this.#role !== 'primary' && this.#canCampaign()) this.#campaign('transfer')
        return
    }
  }

  /**
   * Appends an entry (primary only) and returns its seq. `outputs` are released in a later Ready once
   * the entry is committed, or dropped (reported as 'outputs-discarded') if this member stops being
   * primary first.
   */
  propose(data: Uint8Array, outputs: readonly O[] = []): number {
    if (this.#role !== 'primary') {
      throw new NotPrimaryError(`${this.id} is not the primary (role ${this.#role})`, this.#leader)
    }
    if (this.#transfer) {
      throw new NotPrimaryError(
        `${this.id} is handing the primary role to ${this.#transfer.to}`,
        this.#transfer.to,
      )
    }
    const seq = this.#appendEntry('normal', data)
    for (const output of outputs) this.#pendingOutputs.push({ seq, epoch: this.#epoch, output })
    return seq
  }

  /**
   * Holds `output` until entry `seq` commits. For output the machine produced while making an entry
   * it has already proposed (outputs come in seq order); dropped like propose()'s outputs if this
   * member stops being primary first.
   */
  attachOutput(seq: number, output: O): void {
    if (this.#role !== 'primary') {
      throw new NotPrimaryError(`${this.id} is not the primary (role ${this.#role})`, this.#leader)
    }
    const lastHeld = this.#pendingOutputs.at(-1)?.seq ?? 0
    if (seq > this.#log.lastSeq() || this.#log.epochAt(seq) !== this.#epoch || seq < lastHeld) {
      throw new GroupStateError(`output for entry ${seq}, which is not this primary's next entry to hold`)
    }
    this.#pendingOutputs.push({ seq, epoch: this.#epoch, output })
  }

  /**
   * Starts an election now instead of waiting for the election timeout: how the first primary of a
   * new group is chosen (the agent that placed the group asks its choice to campaign).
   */
  campaign(): void {
    if (this.#role === 'primary' || this.#role === 'candidate' || !this.#canCampaign()) return
    this.#campaign('election')
  }

  /**
   * Proposes the configuration whose members and learners are exactly `members` (primary only): one
   * member added, which joins as a learner and is promoted to voter once caught up, or one removed
   * (voter or learner; the primary itself included: it hands over and steps down once that commits).
   * Returns the seq of the config entry. Throws NotPrimaryError when not the primary or while handing
   * over, MembershipChangeError 'pending' while an earlier change or this primary's epoch-start is not
   * committed, and 'invalid' for any other list.
   */
  proposeMembers(members: readonly MemberId[]): number {
    this.#assertCanChangeMembers()
    const { next } = planChange(this.#log.membership(), members)
    const seq = this.#appendConfig(next)
    this.#reportConfig()
    return seq
  }

  /** Adds `id` as a learner (see proposeMembers). */
  addMember(id: MemberId): number {
    const { members, learners } = this.#log.membership()
    return this.proposeMembers([...members, ...learners, id])
  }

  /** Removes voter or learner `id` (see proposeMembers). */
  removeMember(id: MemberId): number {
    const { members, learners } = this.#log.membership()
    if (!members.includes(id) && !learners.includes(id)) {
      throw new MembershipChangeError('invalid', `${id} is not a member of this group`)
    }
    return this.proposeMembers([...members, ...learners].filter((m) => m !== id))
  }

  /**
   * The failover drill: stop taking proposals, bring `to` fully up to date, then tell it to start an
   * election at once. Given up after electionTicks if `to` does not take over.
   */
  transferLeadership(to: MemberId): void {
    if (this.#role !== 'primary') {
      throw new NotPrimaryError(`${this.id} is not the primary and cannot hand over`, this.#leader)
    }
    if (to === this.id || !this.#log.membership().members.includes(to)) {
      throw new GroupStateError(`${to} is not another voting member of this group`)
    }
    if (this.#transfer?.to === to) return
    this.#transfer = { to, elapsed: 0, sent: false }
    this.#events.push({ type: 'transfer-started', to })
    this.#appendsDue = true
    this.#maybeSendTimeoutNow()
  }

  /**
   * The machine has checkpointed the state after entry `uptoSeq` (at most the applied seq), and `ref`
   * locates it: the log before it may go, and shadows that need it get InstallCheckpoint.
   */
  compact(uptoSeq: number, ref: Uint8Array): void {
    if (uptoSeq <= this.#log.checkpoint.seq) return
    if (uptoSeq > this.#appliedSeq) {
      throw new GroupStateError(`cannot compact to ${uptoSeq}: only ${this.#appliedSeq} is applied`)
    }
    const checkpoint = this.#log.compact(uptoSeq, ref)
    this.#pendingCheckpoint = { checkpoint, restore: false }
  }

  // ---- outputs -----------------------------------------------------------------------------------

  hasReady(): boolean {
    return (
      this.#appendsDue ||
      this.#configKey() !== this.#reportedConfig ||
      this.#isRemoved() !== this.#reportedRemoved ||
      this.#messages.length > 0 ||
      this.#events.length > 0 ||
      this.#releasable.length > 0 ||
      this.#persistCursor < this.#log.lastSeq() ||
      this.#applyCursor < this.#commitSeq ||
      this.#pendingTruncate !== undefined ||
      this.#pendingCheckpoint !== undefined ||
      !sameHardState(this.#hardState(), this.#reportedHardState) ||
      !sameRole(this.#roleState(), this.#reportedRole) ||
      (this.#role === 'primary' &&
        (this.#pendingOutputs[0]?.seq ?? Number.POSITIVE_INFINITY) <= this.#commitSeq)
    )
  }

  /** Takes everything pending. Several Readies may be outstanding; advance them in the order taken. */
  ready(): Ready<O> {
    if (this.#role === 'primary' && this.#appendsDue) this.#flushAppends()
    this.#appendsDue = false
    this.#reportConfig()

    const last = this.#log.lastSeq()
    const hardState = this.#hardState()
    const role = this.#roleState()
    if (this.#role === 'primary') this.#takeCommittedOutputs()
    const outputsToRelease = this.#releasable
    this.#releasable = []
    const rd: Ready<O> = {
      hardState: sameHardState(hardState, this.#reportedHardState) ? undefined : hardState,
      truncateFrom: this.#pendingTruncate,
      checkpoint: this.#pendingCheckpoint,
      entriesToPersist: this.#persistCursor < last ? this.#log.slice(this.#persistCursor + 1, last) : [],
      messages: this.#messages,
      committedToApply:
        this.#applyCursor < this.#commitSeq ? this.#log.slice(this.#applyCursor + 1, this.#commitSeq) : [],
      outputsToRelease,
      roleChange: sameRole(role, this.#reportedRole) ? undefined : role,
      events: this.#events,
    }
    this.#persistCursor = last
    this.#applyCursor = Math.max(this.#applyCursor, this.#commitSeq)
    this.#pendingTruncate = undefined
    this.#pendingCheckpoint = undefined
    this.#reportedHardState = hardState
    this.#reportedRole = role
    this.#messages = []
    this.#events = []
    return rd
  }

  /** The caller has done everything `ready` asked. */
  advance(ready: Ready<O>): void {
    const persisted = ready.entriesToPersist.at(-1)
    // Log matching: if the entry still has the epoch it had, nothing before it was cut since.
    if (persisted && this.#log.epochAt(persisted.seq) === persisted.epoch) {
      this.#stableSeq = Math.max(this.#stableSeq, persisted.seq)
    }
    if (ready.checkpoint && this.#log.checkpoint.seq >= ready.checkpoint.checkpoint.seq) {
      this.#stableSeq = Math.max(this.#stableSeq, ready.checkpoint.checkpoint.seq)
      if (ready.checkpoint.restore)
        this.#appliedSeq = Math.max(this.#appliedSeq, ready.checkpoint.checkpoint.seq)
    }
    const applied = ready.committedToApply.at(-1)
    if (applied) this.#appliedSeq = Math.max(this.#appliedSeq, applied.seq)
    // The primary counts its own copy toward a majority only once it is durable.
    if (this.#role === 'primary' && this.#maybeCommit()) this.#appendsDue = true
    this.#reportConfig()
  }

  status(): GroupStatus {
    const last = this.#log.lastSeq()
    const membership = this.#log.membership()
    const configSeq = this.#log.configSeq()
    return {
      id: this.id,
      role: this.#role,
      epoch: this.#epoch,
      leader: this.#leader,
      votedFor: this.#votedFor,
      commitSeq: this.#commitSeq,
      appliedSeq: this.#appliedSeq,
      stableSeq: this.#stableSeq,
      firstSeq: this.#log.firstSeq(),
      lastSeq: last,
      followers: [...this.#progress].map(([member, pr]) => ({
        member,
        membership: membership.members.includes(member)
          ? 'voter'
          : membership.learners.includes(member)
            ? 'learner'
            : 'leaving',
        state: pr.state,
        matchSeq: pr.matchSeq,
        nextSeq: pr.nextSeq,
        lag: last - pr.matchSeq,
        inflightBytes: pr.inflightBytes,
        recentActive: pr.recentActive,
      })),
      transferringTo: this.#transfer?.to,
      members: [...membership.members],
      learners: [...membership.learners],
      configSeq,
      pendingConfigSeq: configSeq > this.#commitSeq ? configSeq : undefined,
      removed: this.#isRemoved(),
    }
  }

  /** Log entries from..to inclusive that this member still holds (after its checkpoint). */
  readLog(fromSeq: number, toSeq: number = this.#log.lastSeq()): Entry[] {
    return this.#log.slice(Math.max(fromSeq, this.#log.firstSeq()), toSeq)
  }

  checkpoint(): Checkpoint {
    return this.#log.checkpoint
  }

  // ---- roles -------------------------------------------------------------------------------------

  #becomeShadow(
    epoch: number,
    leader: MemberId | undefined,
    reason: 'newer-epoch' | 'lost-quorum' | 'removed',
  ): void {
    if (this.#role === 'primary') {
      this.#events.push({
        type: 'stepped-down',
        epoch: this.#epoch,
        reason,
        commitSeq: this.#commitSeq,
        lastSeq: this.#log.lastSeq(),
      })
      this.#discardOutputs()
    }
    if (epoch !== this.#epoch) {
      this.#epoch = epoch
      this.#votedFor = undefined
    }
    this.#role = 'shadow'
    this.#leader = leader
    this.#resetRoleState()
  }

  #resetRoleState(): void {
    this.#electionElapsed = 0
    this.#heartbeatElapsed = 0
    this.#resetElectionTimeout()
    this.#votes.clear()
    this.#progress.clear()
    this.#transfer = undefined
    this.#leaving = false
    this.#appendsDue = false
  }

  #takeCommittedOutputs(): void {
    const n = this.#pendingOutputs.findIndex((t) => t.seq > this.#commitSeq)
    const count = n < 0 ? this.#pendingOutputs.length : n
    this.#releasable.push(...this.#pendingOutputs.slice(0, count))
    this.#pendingOutputs = this.#pendingOutputs.slice(count)
  }

  /** On stepping down: outputs of committed entries still go out; the others never will. */
  #discardOutputs(): void {
    this.#takeCommittedOutputs()
    const first = this.#pendingOutputs[0]
    if (first) {
      this.#events.push({
        type: 'outputs-discarded',
        epoch: this.#epoch,
        count: this.#pendingOutputs.length,
        fromSeq: first.seq,
      })
    }
    this.#pendingOutputs = []
  }

  #campaign(kind: 'pre-vote' | 'election' | 'transfer'): void {
    const preVote = kind === 'pre-vote'
    if (preVote) {
      this.#role = 'pre-candidate'
      this.#leader = undefined
      this.#resetRoleState()
    } else {
      this.#role = 'candidate'
      this.#epoch++
      this.#votedFor = this.id
      this.#leader = undefined
      this.#resetRoleState()
    }
    const epoch = preVote ? this.#epoch + 1 : this.#epoch
    this.#events.push({ type: 'election-started', epoch, preVote, transfer: kind === 'transfer' })
    if (this.#poll(this.id, true) !== 'pending') return
    const last = this.#log.lastPosition()
    for (const to of this.#log.membership().members) {
      if (to === this.id) continue
      if (preVote) this.#send({ type: 'pre-vote', to, epoch, last })
      else this.#send({ type: 'request-vote', to, epoch, last, transfer: kind === 'transfer' })
    }
  }

  #poll(from: MemberId, granted: boolean): 'won' | 'lost' | 'pending' {
    this.#votes.set(from, granted)
    // Only the voters of this candidate's latest configuration count, itself included only if one.
    const voters = this.#log.membership().members
    const quorum = quorumOf(voters.length)
    let yes = 0
    let no = 0
    for (const id of voters) {
      const v = this.#votes.get(id)
      if (v === true) yes++
      else if (v === false) no++
    }
    if (yes >= quorum) {
      if (this.#role === 'pre-candidate') this.#campaign('election')
      else this.#becomePrimary()
      return 'won'
    }
    if (no > voters.length - quorum) {
      this.#becomeShadow(this.#epoch, undefined, 'newer-epoch')
      return 'lost'
    }
    return 'pending'
  }

  #becomePrimary(): void {
    this.#role = 'primary'
    this.#leader = this.id
    this.#resetRoleState()
    this.#trackMembers(this.#log.lastSeq() + 1)
    // Entries of earlier epochs commit only through an entry of this one (Raft's commitment rule).
    const seq = this.#log.lastSeq() + 1
    this.#appendEntry('epoch-start', this.#epochStartData(this.#epoch, seq, this.#lastMachineEntry(seq - 1)))
    this.#events.push({ type: 'became-primary', epoch: this.#epoch, epochStartSeq: seq })
  }

  /** The last entry at or before `seq` that is the machine's (not a config entry), unless compacted. */
  #lastMachineEntry(seq: number): Entry | undefined {
    for (let s = seq; s >= this.#log.firstSeq(); s--) {
      const entry = this.#log.entry(s)
      if (entry && entry.kind !== 'config') return entry
    }
    return undefined
  }

  #inLease(): boolean {
    return this.#leader !== undefined && this.#electionElapsed < this.#config.electionTicks
  }

  // ---- primary -----------------------------------------------------------------------------------

  #tickPrimary(): void {
    this.#heartbeatElapsed++
    this.#electionElapsed++
    if (this.#electionElapsed >= this.#config.electionTicks) {
      this.#electionElapsed = 0
      const voters = this.#log.membership().members
      let active = voters.includes(this.id) ? 1 : 0
      for (const [id, pr] of this.#progress) {
        if (pr.recentActive && voters.includes(id)) active++
        pr.recentActive = false
      }
      // Check quorum: a primary that cannot reach a majority stops acting as one.
      if (active < quorumOf(voters.length)) {
        this.#becomeShadow(this.#epoch, undefined, 'lost-quorum')
        return
      }
    }
    if (this.#transfer && ++this.#transfer.elapsed >= this.#config.electionTicks) {
      if (this.#leaving) {
        // No voter took over in time: a member that is no longer in the group steps down anyway.
        this.#becomeShadow(this.#epoch, undefined, 'removed')
        return
      }
      this.#events.push({ type: 'transfer-aborted', to: this.#transfer.to })
      this.#transfer = undefined
    }
    this.#forgetDeparted()
    this.#maybePromote()
    if (this.#heartbeatElapsed >= this.#config.heartbeatTicks) {
      this.#heartbeatElapsed = 0
      for (const [to, pr] of this.#progress) {
        this.#sendHeartbeat(to, pr)
        if (pr.state === 'checkpoint' && this.#now - pr.checkpointSentAt >= this.#config.electionTicks) {
          this.#sendCheckpoint(to, pr)
        }
      }
    }
  }

  #appendEntry(kind: Entry['kind'], data: Uint8Array): number {
    const seq = this.#log.lastSeq() + 1
    this.#log.append([{ seq, epoch: this.#epoch, kind, data }])
    this.#appendsDue = true
    return seq
  }

  #flushAppends(): void {
    for (const [to, pr] of this.#progress) {
      while (this.#maybeSendAppend(to, pr, false)) {}
      if (pr.sentCommit < Math.min(this.#commitSeq, pr.matchSeq)) this.#sendHeartbeat(to, pr)
    }
  }

  /** Sends the next batch if flow control allows; true when more could follow at once. */
  #maybeSendAppend(to: MemberId, pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused(this.#config.maxInflightBytes)) return false
    const prevSeq = pr.nextSeq - 1
    const prevEpoch = this.#log.epochAt(prevSeq)
    if (prevEpoch === undefined || pr.nextSeq < this.#log.firstSeq()) {
      this.#sendCheckpoint(to, pr)
      return false
    }
    const entries = this.#log.slice(
      pr.nextSeq,
      this.#log.lastSeq(),
      this.#config.maxBatchEntries,
      this.#config.maxInflightBytes,
    )
    if (entries.length === 0 && !sendIfEmpty) return false
    this.#send({
      type: 'append',
      to,
      prev: { seq: prevSeq, epoch: prevEpoch },
      entries,
      leaderCommit: this.#commitSeq,
    })
    let bytes = 0
    for (const e of entries) bytes += entryBytes(e)
    pr.sentEntries(prevSeq + entries.length, entries.length, bytes)
    pr.sentCommit = Math.max(pr.sentCommit, Math.min(this.#commitSeq, prevSeq + entries.length))
    return entries.length > 0 && pr.state === 'replicate'
  }

  #sendHeartbeat(to: MemberId, pr: Progress): void {
    // Only what this shadow is known to hold: its log may still differ beyond matchSeq.
    const leaderCommit = Math.min(this.#commitSeq, pr.matchSeq)
    this.#send({ type: 'heartbeat', to, leaderCommit })
    pr.sentCommit = Math.max(pr.sentCommit, leaderCommit)
  }

  #sendCheckpoint(to: MemberId, pr: Progress): void {
    if (!pr.recentActive) return
    if (pr.state === 'checkpoint' && this.#now - pr.checkpointSentAt < this.#config.electionTicks) return
    const checkpoint = this.#log.checkpoint
    pr.becomeCheckpoint(checkpoint.seq, this.#now)
    this.#send({ type: 'install-checkpoint', to, checkpoint })
    this.#events.push({ type: 'checkpoint-sent', to, seq: checkpoint.seq })
  }

  #onAppendResponse(m: AppendResponse): void {
    const pr = this.#progress.get(m.from)
    if (!pr) return
    pr.recentActive = true
    if (m.reject) {
      const agree = m.hint.epoch > 0 ? this.#log.lastAgreeable(m.hint.seq, m.hint.epoch) : m.hint.seq
      if (pr.maybeDecrTo(m.rejectedSeq, agree)) {
        if (pr.state === 'replicate') pr.becomeProbe()
        this.#appendsDue = true
      }
      return
    }
    const exact = pr.state === 'probe' && pr.matchSeq === m.matchSeq
    if (!pr.maybeUpdate(m.matchSeq, this.#now) && !exact) return
    if (pr.state === 'probe') pr.becomeReplicate(this.#now)
    else if (pr.state === 'checkpoint' && pr.matchSeq >= pr.pendingCheckpoint) pr.becomeProbe()
    this.#maybeCommit()
    this.#appendsDue = true
    this.#maybeSendTimeoutNow()
    this.#maybePromote()
  }

  #onHeartbeatResponse(from: MemberId): void {
    const pr = this.#progress.get(from)
    if (!pr) return
    pr.recentActive = true
    if (pr.state === 'probe') {
      pr.probeSent = false
      this.#appendsDue = true
    } else if (pr.state === 'replicate' && pr.matchSeq < pr.nextSeq - 1) {
      // Nothing acknowledged for a while with messages out: they were probably lost. Probe again.
      const stall = Math.max(2 * this.#config.heartbeatTicks, Math.ceil(this.#config.electionTicks / 2))
      if (this.#now - pr.lastProgressAt >= stall) {
        pr.becomeProbe()
        this.#appendsDue = true
      }
    }
  }

  #onCheckpointResponse(m: CheckpointResponse): void {
    const pr = this.#progress.get(m.from)
    if (!pr) return
    pr.recentActive = true
    if (pr.state !== 'checkpoint') return
    if (!m.reject) pr.maybeUpdate(m.matchSeq, this.#now)
    if (m.reject || pr.matchSeq >= pr.pendingCheckpoint) {
      pr.becomeProbe()
      this.#appendsDue = true
    }
    if (this.#maybeCommit()) this.#appendsDue = true
    this.#maybePromote()
  }

  /** Commits what a majority of the latest configuration's voters hold (its own copy once durable, if a voter). */
  #maybeCommit(): boolean {
    const voters = this.#log.membership().members
    const matches = voters.map((id) =>
      id === this.id ? this.#stableSeq : (this.#progress.get(id)?.matchSeq ?? 0),
    )
    matches.sort((a, b) => b - a)
    const candidate = matches[quorumOf(voters.length) - 1]!
    if (candidate <= this.#commitSeq || this.#log.epochAt(candidate) !== this.#epoch) return false
    this.#commitSeq = candidate
    this.#maybeSendTimeoutNow()
    this.#maybeLeave()
    this.#maybePromote()
    return true
  }

  #maybeSendTimeoutNow(): void {
    const t = this.#transfer
    if (!t || t.sent) return
    const last = this.#log.lastSeq()
    if (this.#progress.get(t.to)?.matchSeq === last && this.#commitSeq === last) {
      this.#send({ type: 'timeout-now', to: t.to })
      t.sent = true
      if (this.#leaving) this.#becomeShadow(this.#epoch, undefined, 'removed')
    }
  }

  // ---- membership --------------------------------------------------------------------------------

  /** Whether this member may start an election. */
  #canCampaign(): boolean {
    if (this.#log.membership().members.includes(this.id)) return true
    // Left out of the latest configuration: still a voter of the previous one until that commits.
    return (
      this.#log.configSeq() > this.#commitSeq &&
      this.#log.membershipAt(this.#commitSeq).members.includes(this.id)
    )
  }

  /** A committed configuration leaves out this member, which had been in one. */
  #isRemoved(): boolean {
    return (
      this.#role !== 'primary' &&
      (this.#wasMember || this.#log.everIncluded(this.id)) &&
      !hasMember(this.#log.membership(), this.id) &&
      this.#log.configSeq() <= this.#commitSeq
    )
  }

  #configKey(): string {
    const m = this.#log.membership()
    const seq = this.#log.configSeq()
    return JSON.stringify([seq, seq <= this.#commitSeq, m.members, m.learners])
  }

  /** Queues the events for a change of configuration or of its commitment, and for a removal. */
  #reportConfig(): void {
    this.#wasMember ||= this.#log.everIncluded(this.id)
    const key = this.#configKey()
    if (key !== this.#reportedConfig) {
      this.#reportedConfig = key
      const m = this.#log.membership()
      const seq = this.#log.configSeq()
      this.#events.push({
        type: 'config-changed',
        members: [...m.members],
        learners: [...m.learners],
        seq,
        committed: seq <= this.#commitSeq,
      })
    }
    const removed = this.#isRemoved()
    if (removed !== this.#reportedRemoved) {
      this.#reportedRemoved = removed
      if (removed) this.#events.push({ type: 'removed', seq: this.#log.configSeq() })
    }
  }

  #assertCanChangeMembers(): void {
    if (this.#role !== 'primary') {
      throw new NotPrimaryError(`${this.id} is not the primary (role ${this.#role})`, this.#leader)
    }
    if (this.#transfer) {
      throw new NotPrimaryError(
        `${this.id} is handing the primary role to ${this.#transfer.to}`,
        this.#transfer.to,
      )
    }
    const configSeq = this.#log.configSeq()
    if (configSeq > this.#commitSeq) {
      throw new MembershipChangeError(
        'pending',
        `the configuration change at entry ${configSeq} is not committed yet (commit ${this.#commitSeq}): propose the next one once it is`,
      )
    }
    // Without this, a change could commit by an old configuration's majority that a stale change
    // from an earlier epoch never reached (the single-server change bug Ongaro reported in 2015).
    if (this.#log.epochAt(this.#commitSeq) !== this.#epoch) {
      throw new MembershipChangeError(
        'pending',
        `primary ${this.id} has not committed an entry of epoch ${this.#epoch} yet: retry once its epoch start is committed`,
      )
    }
  }

  /** Appends a config entry: it takes effect at once, committed or not. */
  #appendConfig(next: Membership): number {
    const seq = this.#appendEntry('config', encodeMembership(next))
    this.#trackMembers(seq)
    return seq
  }

  /** Starts replicating to every member of the latest configuration not yet tracked. */
  #trackMembers(nextSeq: number): void {
    const { members, learners } = this.#log.membership()
    for (const id of [...members, ...learners]) {
      if (id === this.id) continue
      const pr = this.#progress.get(id)
      if (pr) pr.departedAt = undefined
      else this.#progress.set(id, new Progress(nextSeq, this.#now))
    }
  }

  /**
   * A member whose removal committed is still sent heartbeats (which carry the commit) for an election
   * timeout, so that it can learn of its removal and stop campaigning; then it is forgotten.
   */
  #forgetDeparted(): void {
    const m = this.#log.membership()
    if (this.#log.configSeq() > this.#commitSeq) return
    for (const [id, pr] of this.#progress) {
      if (hasMember(m, id)) continue
      pr.departedAt ??= this.#now
      if (this.#now - pr.departedAt >= this.#config.electionTicks) this.#progress.delete(id)
    }
  }

  /** Promotes the first learner that holds the latest configuration and is within catchUpEntries. */
  #maybePromote(): void {
    if (this.#role !== 'primary' || this.#transfer) return
    const m = this.#log.membership()
    const configSeq = this.#log.configSeq()
    if (m.learners.length === 0 || configSeq > this.#commitSeq) return
    if (this.#log.epochAt(this.#commitSeq) !== this.#epoch) return
    const last = this.#log.lastSeq()
    for (const id of m.learners) {
      const pr = this.#progress.get(id)
      if (pr && pr.matchSeq >= configSeq && last - pr.matchSeq <= this.#catchUpEntries) {
        this.#appendConfig(promote(m, id))
        return
      }
    }
  }

  /** This primary's removal of itself committed: hand over to the most caught-up voter, then step down. */
  #maybeLeave(): void {
    if (this.#role !== 'primary' || this.#leaving) return
    const m = this.#log.membership()
    if (m.members.includes(this.id) || this.#log.configSeq() > this.#commitSeq) return
    this.#leaving = true
    if (this.#transfer) {
      // A handover asked for earlier goes on; if its TimeoutNow is already out, leave now.
      if (this.#transfer.sent) this.#becomeShadow(this.#epoch, undefined, 'removed')
      return
    }
    let to: MemberId | undefined
    let best = -1
    for (const id of m.members) {
      const pr = this.#progress.get(id)
      if (pr && pr.matchSeq > best) {
        to = id
        best = pr.matchSeq
      }
    }
    if (to === undefined) {
      this.#becomeShadow(this.#epoch, undefined, 'removed')
      return
    }
    this.#transfer = { to, elapsed: 0, sent: false }
    this.#events.push({ type: 'transfer-started', to })
    this.#appendsDue = true
    this.#maybeSendTimeoutNow()
  }

  // ---- shadow ------------------------------------------------------------------------------------

  #handleAppend(m: AppendEntries): void {
    let prev = m.prev
    let entries = m.entries
    if (prev.seq < this.#commitSeq) {
      // Everything up to our commit seq is settled and equal everywhere: keep only what follows it.
      entries = entries.filter((e) => e.seq > this.#commitSeq)
      if (entries.length === 0) {
        this.#respondAppend(m.from, this.#commitSeq)
        return
      }
      prev = { seq: this.#commitSeq, epoch: this.#log.epochAt(this.#commitSeq)! }
    }
    if (this.#log.epochAt(prev.seq) !== prev.epoch) {
      const seq = this.#log.lastAgreeable(Math.min(prev.seq, this.#log.lastSeq()), prev.epoch)
      this.#send({
        type: 'append-response',
        to: m.from,
        reject: true,
        matchSeq: 0,
        rejectedSeq: m.prev.seq,
        hint: { seq, epoch: this.#log.epochAt(seq) ?? 0 },
      })
      return
    }
    const conflict = entries.findIndex((e) => this.#log.epochAt(e.seq) !== e.epoch)
    if (conflict >= 0) {
      const first = entries[conflict]!
      if (first.seq <= this.#log.lastSeq()) this.#truncate(first.seq)
      this.#log.append(entries.slice(conflict))
    }
    const lastNew = prev.seq + entries.length
    this.#commitTo(Math.min(m.leaderCommit, lastNew))
    this.#respondAppend(m.from, lastNew)
  }

  #respondAppend(to: MemberId, matchSeq: number): void {
    this.#send({
      type: 'append-response',
      to,
      reject: false,
      matchSeq,
      rejectedSeq: 0,
      hint: { seq: 0, epoch: 0 },
    })
  }

  #handleHeartbeat(from: MemberId, leaderCommit: number): void {
    this.#commitTo(Math.min(leaderCommit, this.#log.lastSeq()))
    this.#send({ type: 'heartbeat-response', to: from })
  }

  #handleCheckpoint(m: InstallCheckpoint): void {
    const cp = m.checkpoint
    if (cp.seq <= this.#commitSeq) {
      this.#send({ type: 'checkpoint-response', to: m.from, reject: false, matchSeq: this.#commitSeq })
      return
    }
    if (this.#log.epochAt(cp.seq) === cp.epoch) {
      // We hold the entries the checkpoint covers: no restore, the commit just moves forward.
      this.#commitTo(cp.seq)
      this.#send({ type: 'checkpoint-response', to: m.from, reject: false, matchSeq: cp.seq })
      return
    }
    const oldFirst = this.#log.firstSeq()
    const dropped = this.#log.restore(cp)
    if (dropped > 0) this.#pendingTruncate = Math.min(this.#pendingTruncate ?? oldFirst, oldFirst)
    this.#pendingCheckpoint = { checkpoint: cp, restore: true }
    this.#persistCursor = cp.seq
    this.#stableSeq = Math.min(this.#stableSeq, oldFirst - 1)
    this.#applyCursor = cp.seq
    this.#commitSeq = cp.seq
    this.#events.push({ type: 'checkpoint-installed', seq: cp.seq, epoch: cp.epoch })
    this.#send({ type: 'checkpoint-response', to: m.from, reject: false, matchSeq: cp.seq })
  }

  #truncate(seq: number): void {
    if (seq <= this.#commitSeq) {
      throw new GroupStateError(
        `${this.id} was asked to cut committed entry ${seq} (commit ${this.#commitSeq})`,
      )
    }
    const dropped = this.#log.truncateFrom(seq)
    this.#pendingTruncate = Math.min(this.#pendingTruncate ?? seq, seq)
    this.#persistCursor = Math.min(this.#persistCursor, seq - 1)
    this.#stableSeq = Math.min(this.#stableSeq, seq - 1)
    this.#events.push({ type: 'log-truncated', fromSeq: seq, dropped })
  }

  #commitTo(seq: number): void {
    if (seq > this.#commitSeq) this.#commitSeq = seq
  }

  // ---- votes and fencing -------------------------------------------------------------------------

  #handleVoteRequest(m: PreVote | RequestVote): void {
    const preVote = m.type === 'pre-vote'
    const canVote =
      this.#votedFor === m.from ||
      (this.#votedFor === undefined && this.#leader === undefined) ||
      (preVote && m.epoch > this.#epoch)
    const granted = canVote && this.#log.isUpToDate(m.last)
    const type = preVote ? 'pre-vote-response' : 'vote-response'
    // A grant carries the asked epoch (a pre-vote's is in the future); a refusal carries ours.
    this.#send({ type, to: m.from, epoch: granted ? m.epoch : this.#epoch, granted })
    if (granted && !preVote) {
      this.#votedFor = m.from
      this.#electionElapsed = 0
    }
  }

  /** Fencing: a message from an older epoch is refused, and answered so its sender learns ours. */
  #refuseStale(m: Message): void {
    const to = m.from
    switch (m.type) {
      case 'append':
        this.#send({
          type: 'append-response',
          to,
          reject: true,
          matchSeq: 0,
          rejectedSeq: m.prev.seq,
          hint: { seq: 0, epoch: 0 },
        })
        return
      case 'heartbeat':
        this.#send({ type: 'heartbeat-response', to })
        return
      case 'install-checkpoint':
        this.#send({ type: 'checkpoint-response', to, reject: true, matchSeq: 0 })
        return
      case 'pre-vote':
        this.#send({ type: 'pre-vote-response', to, granted: false })
        return
      case 'request-vote':
        this.#send({ type: 'vote-response', to, granted: false })
        return
      default:
        // Answers to requests of an older epoch are simply stale.
        return
    }
  }

  #send(m: Send): void {
    this.#messages.push({ ...m, from: this.id, epoch: m.epoch ?? this.#epoch } as Message)
  }

  #hardState(): HardState {
    return { epoch: this.#epoch, votedFor: this.#votedFor, commitSeq: this.#commitSeq }
  }

  #roleState(): RoleChange {
    return { role: this.#role, epoch: this.#epoch, leader: this.#leader }
  }

  #resetElectionTimeout(): void {
    const e = this.#config.electionTicks
    this.#electionTimeout = e + Math.floor(this.#random() * e)
  }
}

function validateConfig(config: GroupConfig, id: MemberId): void {
  const { members, heartbeatTicks, electionTicks, maxBatchEntries, maxInflightBytes } = config
  const learners = config.learners ?? []
  const all = [...members, ...learners]
  if (!all.includes(id)) throw new ConfigError(`member ${id} is not in the group (${all.join(', ')})`)
  if (new Set(all).size !== all.length) throw new ConfigError('group members and learners must be distinct')
  if (members.length === 0) throw new ConfigError('a group needs at least one voting member')
  const { catchUpEntries } = config
  if (catchUpEntries !== undefined && (!Number.isInteger(catchUpEntries) || catchUpEntries < 0)) {
    throw new ConfigError('catchUpEntries must be an integer >= 0')
  }
  if (!Number.isInteger(heartbeatTicks) || heartbeatTicks < 1) {
    throw new ConfigError('heartbeatTicks must be an integer >= 1')
  }
  if (!Number.isInteger(electionTicks) || electionTicks <= heartbeatTicks) {
    throw new ConfigError('electionTicks must be an integer greater than heartbeatTicks')
  }
  if (!Number.isInteger(maxBatchEntries) || maxBatchEntries < 1)
    throw new ConfigError('maxBatchEntries must be >= 1')
  if (!(maxInflightBytes > 0)) throw new ConfigError('maxInflightBytes must be > 0')
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.epoch === b.epoch && a.votedFor === b.votedFor && a.commitSeq === b.commitSeq
}

function sameRole(a: RoleChange, b: RoleChange): boolean {
  return a.role === b.role && a.epoch === b.epoch && a.leader === b.leader
}
