/**
 * One member of one workload's replica group, running: the pure ReplicaGroupMember driven by a timer
 * (ticks), the network (messages in and out), level (every Ready persisted before anything that
 * depends on it happens) and the guest (committed entries applied, live entries proposed, output
 * released on commit). Everything here is I/O around the state machine; no protocol decision is made
 * in this file.
 */
import { GroupStateError, NotPrimaryError, UnderstudyError } from '../../errors/index.ts'
import { decodeEntry, epochStartFrame } from '../../replay/log/index.ts'
import { ReplicaGroupMember } from '../group/group.ts'
import type { Entry, GroupEvent, GroupStatus, MemberId, Message, Ready, Role } from '../group/types.ts'
import type { GroupStorage, LoadedGroup } from '../store/index.ts'
import { OutputLog } from './output-log.ts'
import { type GuestSpec, type MachineEnd, ReplicaMachine } from './replica-machine.ts'
import { StdinQueue } from './stdin-queue.ts'

/**
 * How many election timeouts a member of a brand-new group stays quiet, so the chosen first primary
 * (already asked to campaign) wins even when its first messages are slow (a loaded machine, a cold
 * connection). Only delays the start of a group whose chosen primary died at birth.
 */
const FRESH_GROUP_QUIET_FACTOR = 5

/** How long committed entries may wait for a shadow's checkpoint. */
const CHECKPOINT_TIMEOUT_MS = 10_000

export interface ReplicaTiming {
  /** An idle primary heartbeats this often; also the tick. */
  heartbeatMs: number
  /** A shadow that heard nothing from a primary for this long (randomized up to 2x) starts an election. */
  electionTimeoutMs: number
  /** A checkpoint mark with the state digest every this many entries. */
  checkpointEveryEntries: number
}

/** What a replica reports to its agent, which turns it into control events, metrics and logs. */
export type ReplicaEvent =
  | { type: 'role'; role: Role; epoch: number; leader: MemberId | undefined }
  | { type: 'election-started'; epoch: number; preVote: boolean; transfer: boolean }
  | {
      type: 'promoted'
      epoch: number
      /** Handed the role on purpose (the failover drill, an owner coming back), not after a failure. */
      drill: boolean
      /** Last word from the old primary to the election starting (undefined for a new group or a drill). */
      detectionMs: number | undefined
      electionMs: number
      promotionMs: number
    }
  | { type: 'stepped-down'; epoch: number; reason: string }
  | { type: 'digest'; seq: number; agree: boolean; expected: string; got: string }
  | { type: 'machine-ended'; end: MachineEnd }
  | { type: 'checkpoint'; seq: number; bytes: number }
  | {
      type: 'config-changed'
      members: readonly MemberId[]
      learners: readonly MemberId[]
      committed: boolean
    }
  | { type: 'removed' }
  | { type: 'checkpoint-failed'; seq: number; error: Error }
  | { type: 'failed'; error: Error }

interface HeldOutput {
  /** Machine seq of the Output entry. */
  seq: number
  stream: 'stdout' | 'stderr'
  bytes: Uint8Array
}

/** Where a replica reports what it measures (the agent's Prometheus metrics); all optional. */
export interface ReplicaMetrics {
  appended(count: number): void
  /** Entries committed on the primary, with their append-to-commit latency in seconds. */
  committed(latenciesSeconds: number[]): void
  /** A shadow's lag as the primary sees it. */
  lag(member: MemberId, entries: number, seconds: number): void
}

export interface ReplicaInit {
  workload: string
  self: MemberId
  members: readonly MemberId[]
  storage: GroupStorage
  loaded: LoadedGroup
  image: Uint8Array
  spec: GuestSpec
  timing: ReplicaTiming
  cacheDir?: string | undefined
  send: (to: MemberId, message: Message) => void
  onEvent: (event: ReplicaEvent) => void
  random?: () => number
  now?: () => number
  metrics?: ReplicaMetrics | undefined
  /** The bytes of the stored checkpoint (loaded.checkpoint), when there is one: the machine starts there. */
  checkpointData?: Uint8Array | undefined
  /** This member joins an existing group (repair): it starts as a learner and never campaigns until promoted. */
  joining?: boolean | undefined
  /** Gets checkpoint bytes from another member (InstallCheckpoint names the seq, the sender holds it). */
  fetchCheckpoint: (from: MemberId, seq: number) => Promise<Uint8Array>
}

export class Replica {
  readonly workload: string
  readonly output = new OutputLog()
  readonly startedAt: number
  readonly #init: ReplicaInit
  readonly #member: ReplicaGroupMember<HeldOutput>
  readonly #now: () => number
  #stdin = new StdinQueue()
  #machine: ReplicaMachine
  #timer: NodeJS.Timeout | undefined
  #pumping = false
  #closed = false
  #failure: Error | undefined
  #machineEnd: MachineEnd | undefined
  /** Machine entries applied (fed) so far: the machine's next seq. */
  #fed = 0
  #lastLeaderContact: number | undefined
  #electionStartedAt: number | undefined
  #electionByTransfer = false
  #detectionMs: number | undefined
  #becamePrimaryAt: number | undefined
  #liveEpoch: number | undefined
  #lastDigest: { seq: number; agree: boolean } | undefined
  #appliedAt = new Map<number, number>()
  /** Primary: when each entry not yet committed was proposed (performance.now()). */
  #proposedAt = new Map<number, number>()
  #commitSeen = 0
  /** Committed entries not yet given to the machine: they wait while a checkpoint is taken. */
  #backlog: Entry[] = []
  /** Primary: the group seq each recent live machine entry got (for holding its output). */
  readonly #groupSeqOf = new Map<number, number>()
  /** Primary: per shadow, the age of the oldest entry it has not acknowledged, ms. */
  readonly #lagMs = new Map<MemberId, number>()
  #checkpointing: Promise<void> | undefined

  constructor(init: ReplicaInit) {
    this.workload = init.workload
    this.#init = init
    this.#now = init.now ?? Date.now
    this.startedAt = this.#now()
    const { heartbeatMs, electionTimeoutMs } = init.timing
    this.#member = new ReplicaGroupMember<HeldOutput>({
      id: init.self,
      config: {
        // A member joining an existing group (repair) starts as a learner of the current voters.
        members: init.joining ? init.members.filter((m) => m !== init.self) : init.members,
        ...(init.joining ? { learners: [init.self] } : {}),
        heartbeatTicks: 1,
        electionTicks: Math.max(2, Math.ceil(electionTimeoutMs / heartbeatMs)),
        maxBatchEntries: 512,
        maxInflightBytes: 4 << 20,
      },
      random: init.random ?? Math.random,
      storage: init.loaded,
      // After compaction the entry before may be gone: the machine's position then comes from its
      // checkpoint (config entries are not the machine's and are skipped by the member).
      epochStartData: (epoch, _seq, previous) =>
        epochStartFrame(epoch, previous?.data ?? this.#machine.checkpointChain()).frame,
    })
    const checkpoint = init.loaded.checkpoint
    if (checkpoint && checkpoint.seq > 0 && !init.checkpointData) {
      throw new GroupStateError(`the checkpoint of ${init.workload} at ${checkpoint.seq} has no stored data`)
    }
    this.#machine = this.#newMachine(checkpoint && checkpoint.seq > 0 ? init.checkpointData : undefined)
    this.#fed = this.#machine.position
  }

  /** Starts ticking. `campaign`: try to become primary at once (the first primary of a new group). */
  start(options: { campaign?: boolean } = {}): void {
    if (options.campaign) this.#member.campaign()
    // A member of a brand-new group lets its election clock stand still for a while, so the member
    // the placement chose as first primary (asked to campaign) wins the first election. It still
    // ticks in any other role: a primary (e.g. handed the role in a drill) must heartbeat.
    const fresh = this.#init.loaded.hardState.epoch === 0 && this.#init.loaded.entries.length === 0
    const quietUntil =
      fresh && !options.campaign
        ? this.#now() + FRESH_GROUP_QUIET_FACTOR * this.#init.timing.electionTimeoutMs
        : 0
    this.#timer = setInterval(() => {
      const role = this.#member.status().role
      if (role === 'shadow' && this.#now() < quietUntil && this.#member.status().leader === undefined) return
      this.#member.tick()
      this.#schedule()
    }, this.#init.timing.heartbeatMs)
    this.#schedule()
  }

  get role(): Role {
    return this.#member.status().role
  }

  get failure(): Error | undefined {
    return this.#failure
  }

  get machineEnd(): MachineEnd | undefined {
    return this.#machineEnd
  }

  /** Whether the guest runs live here (primary, promoted and caught up). */
  get live(): boolean {
    return this.#machine.mode === 'record'
  }

  status(): GroupStatus & {
    live: boolean
    lastDigest: { seq: number; agree: boolean } | undefined
    checkpointSeq: number
    lagMs: ReadonlyMap<MemberId, number>
  } {
    return {
      ...this.#member.status(),
      live: this.live,
      lastDigest: this.#lastDigest,
      checkpointSeq: this.#member.checkpoint().seq,
      lagMs: this.#lagMs,
    }
  }

  /** A message from another member (already decoded and authorized). */
  receive(message: Message): void {
    if (this.#closed || this.#failure) return
    if (message.type === 'append' || message.type === 'heartbeat' || message.type === 'install-checkpoint') {
      this.#lastLeaderContact = this.#now()
    }
    try {
      this.#member.step(message)
    } catch (err) {
      this.#fail(err as Error)
      return
    }
    this.#schedule()
  }

  /** Client bytes for the guest's stdin: only the primary takes them. */
  writeStdin(bytes: Uint8Array, eof: boolean): { lastSeq: number } {
    const status = this.#member.status()
    if (status.role !== 'primary' || status.transferringTo !== undefined) {
      throw new NotPrimaryError(`this replica of ${this.workload} is not the primary`, status.leader)
    }
    if (this.#stdin.ended) throw new GroupStateError(`the stdin of ${this.workload} is closed`)
    if (bytes.length > 0) this.#stdin.push(bytes)
    if (eof) this.#stdin.end()
    return { lastSeq: status.lastSeq }
  }

  /** The failover drill: hand the primary role to `to` (default: the most caught-up shadow). */
  handOver(to?: MemberId): MemberId {
    const status = this.#member.status()
    const target =
      to ??
      [...status.followers]
        .sort((a, b) => b.matchSeq - a.matchSeq)
        .find((f) => f.recentActive && f.membership === 'voter')?.member
    if (target === undefined)
      throw new GroupStateError(`no reachable shadow of ${this.workload} to hand over to`)
    this.#member.transferLeadership(target)
    this.#schedule()
    return target
  }

  /** Repair, on the primary: a new member joins as a learner (promoted once caught up). */
  addMember(id: MemberId): void {
    this.#member.addMember(id)
    this.#schedule()
  }

  /** Repair, on the primary: a member gone for good leaves the group. */
  removeMember(id: MemberId): void {
    this.#member.removeMember(id)
    this.#schedule()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#timer)
    clearInterval(this.#timer)
    await this.#machine.stop()
  }

  // ---- the Ready loop ------------------------------------------------------------------------------

  #schedule(): void {
    if (this.#pumping || this.#closed || this.#failure) return
    this.#pumping = true
    queueMicrotask(() => void this.#pump())
  }

  async #pump(): Promise<void> {
    try {
      while (!this.#closed && !this.#failure && this.#member.hasReady()) {
        const rd = this.#member.ready()
        await this.#handle(rd)
        this.#member.advance(rd)
      }
    } catch (err) {
      this.#fail(err as Error)
    } finally {
      this.#pumping = false
    }
    if (!this.#closed && !this.#failure && this.#member.hasReady()) this.#schedule()
  }

  /** Does a Ready's I/O in the order its contract gives. */
  async #handle(rd: Ready<HeldOutput>): Promise<void> {
    let installed: Uint8Array | undefined
    if (rd.checkpoint?.restore) {
      // Behind the primary's log: its checkpoint's bytes first, so a stored checkpoint always has data.
      const { seq } = rd.checkpoint.checkpoint
      installed = await this.#init.fetchCheckpoint(this.#member.status().leader ?? '', seq)
      await this.#init.storage.writeCheckpointData(seq, installed)
    }
    await this.#init.storage.persist(rd)
    if (rd.checkpoint && !rd.checkpoint.restore)
      await this.#init.storage.compact(rd.checkpoint.checkpoint.seq)
    if (installed && rd.checkpoint) await this.#restart(installed)
    for (const m of rd.messages) this.#init.send(m.to, m)
    for (const event of rd.events) await this.#onGroupEvent(event)
    if (rd.roleChange) {
      const { role, epoch, leader } = rd.roleChange
      if (role === 'shadow' && leader !== undefined) {
        // Following a primary again: an election this member started earlier is over.
        this.#electionStartedAt = undefined
      }
      this.#init.onEvent({ type: 'role', role, epoch, leader })
    }
    this.#deliver(rd.committedToApply)
    for (const t of rd.outputsToRelease) this.output.append(t.output.seq, t.output.stream, t.output.bytes)
    this.#measureCommit()
  }

  /** Committed entries for the machine, in order; held back while a checkpoint is being taken. */
  #deliver(entries: readonly Entry[]): void {
    this.#backlog.push(...entries)
    while (!this.#checkpointing && this.#backlog.length > 0) {
      const entry = this.#backlog.shift()!
      this.#apply(entry)
      if (this.#checkpointDue()) {
        this.#checkpointing = this.#takeCheckpoint(entry.seq).finally(() => {
          this.#checkpointing = undefined
          if (!this.#closed && !this.#failure) this.#deliver([])
        })
      }
    }
  }

  /** Shadows checkpoint every N entries, all at the same seqs: their checkpoints are interchangeable. */
  #checkpointDue(): boolean {
    const n = this.#init.timing.checkpointEveryEntries
    return (
      this.#fed > 0 &&
      this.#fed % n === 0 &&
      this.#machine.mode === 'replay' &&
      this.#member.status().role !== 'primary' &&
      this.#machineEnd === undefined
    )
  }

  /** Takes the machine's checkpoint after group entry `seq`, stores it, and lets the log before it go. */
  async #takeCheckpoint(seq: number): Promise<void> {
    const machine = this.#machine
    let bytes: Uint8Array
    // Entries wait while it is taken: never for long (a guest stuck where it cannot pause would
    // otherwise hold the replay, and a promotion, forever).
    const timer = setTimeout(
      () => machine.cancelCheckpoint('the guest did not reach the checkpoint in time'),
      CHECKPOINT_TIMEOUT_MS,
    )
    try {
      bytes = await machine.checkpoint(this.#fed)
    } catch (err) {
      if (machine === this.#machine && !this.#closed)
        this.#init.onEvent({ type: 'checkpoint-failed', seq, error: err as Error })
      return
    } finally {
      clearTimeout(timer)
    }
    if (machine !== this.#machine || this.#closed) return
    await this.#init.storage.writeCheckpointData(seq, bytes)
    const status = this.#member.status()
    if (seq <= status.appliedSeq && seq > this.#member.checkpoint().seq) {
      this.#member.compact(seq, checkpointRef(seq))
      this.#schedule()
    }
    this.#init.onEvent({ type: 'checkpoint', seq, bytes: bytes.byteLength })
  }

  /**
   * The primary adopts a shadow's checkpoint after group entry `seq` (the shadows checkpoint at the
   * seqs it would have) and lets its own log before it go. Its live machine is not touched; the bytes
   * are what it rebuilds from if it is ever deposed.
   */
  async adoptCheckpoint(seq: number, data: Uint8Array): Promise<boolean> {
    const status = this.#member.status()
    if (seq > status.appliedSeq || seq <= this.#member.checkpoint().seq) return false
    await this.#init.storage.writeCheckpointData(seq, data)
    if (seq <= this.#member.status().appliedSeq && seq > this.#member.checkpoint().seq) {
      this.#member.compact(seq, checkpointRef(seq))
      this.#schedule()
      return true
    }
    return false
  }

  /** Replaces the machine by one restored from `checkpoint` (its position comes from the checkpoint). */
  async #restart(checkpoint: Uint8Array): Promise<void> {
    await this.#machine.stop()
    this.#backlog = []
    this.#liveEpoch = undefined
    this.#machineEnd = undefined
    this.#machine = this.#newMachine(checkpoint)
    this.#fed = this.#machine.position
  }

  #apply(entry: Entry): void {
    // Membership changes are the group's own entries: the machine never sees them.
    if (entry.kind === 'config') return
    // The live primary's own entries of its epoch came from this machine: nothing to decode or feed.
    if (entry.kind === 'normal' && this.#liveEpoch !== undefined && entry.epoch === this.#liveEpoch) return
    const machineEntry = decodeEntry(entry.data)
    if (machineEntry.seq < this.#fed) return
    if (machineEntry.seq !== this.#fed) {
      throw new GroupStateError(
        `group entry ${entry.seq} of ${this.workload} carries machine entry ${machineEntry.seq}, ` +
          `but the machine is at ${this.#fed}`,
      )
    }
    this.#machine.feed(machineEntry)
    this.#fed = machineEntry.seq + 1
    this.#appliedAt.set(entry.seq, this.#now())
    if (this.#appliedAt.size > 4096) this.#appliedAt.delete(this.#appliedAt.keys().next().value as number)
    if (entry.kind !== 'epoch-start') return
    const status = this.#member.status()
    // Our own epoch start is committed and replayed up to: from here the guest runs live.
    if (status.role === 'primary' && entry.epoch === status.epoch && this.#liveEpoch !== status.epoch) {
      this.#liveEpoch = status.epoch
      this.#machine.goLive(status.epoch)
      const now = this.#now()
      this.#init.onEvent({
        type: 'promoted',
        epoch: status.epoch,
        drill: this.#electionByTransfer,
        detectionMs: this.#detectionMs,
        electionMs:
          (this.#becamePrimaryAt ?? now) - (this.#electionStartedAt ?? this.#becamePrimaryAt ?? now),
        promotionMs: now - (this.#becamePrimaryAt ?? now),
      })
    }
  }

  async #onGroupEvent(event: GroupEvent): Promise<void> {
    const now = this.#now()
    switch (event.type) {
      case 'config-changed':
        this.#init.onEvent({
          type: 'config-changed',
          members: event.members,
          learners: event.learners,
          committed: event.committed,
        })
        return
      case 'removed':
        this.#init.onEvent({ type: 'removed' })
        return
      case 'election-started':
        if (!event.preVote || this.#electionStartedAt === undefined) {
          this.#electionStartedAt ??= now
          this.#electionByTransfer = event.transfer
          this.#detectionMs =
            event.transfer || this.#lastLeaderContact === undefined
              ? undefined
              : now - this.#lastLeaderContact
        }
        this.#init.onEvent({ ...event })
        return
      case 'became-primary':
        this.#becamePrimaryAt = now
        return
      case 'stepped-down':
        this.#init.onEvent({ type: 'stepped-down', epoch: event.epoch, reason: event.reason })
        // The guest ran live past what is committed: rebuild it from the committed log.
        if (this.live || this.#liveEpoch !== undefined) await this.#rebuild()
        return
      default:
        return
    }
  }

  /** Throws the machine away and replays the committed log into a fresh one. */
  async #rebuild(): Promise<void> {
    await this.#machine.stop()
    this.#liveEpoch = undefined
    this.#electionStartedAt = undefined
    this.#stdin = new StdinQueue()
    this.output.rewind()
    const upto = this.#member.status().appliedSeq
    this.#backlog = []
    const base = this.#init.storage.checkpoint.seq
    const data = base > 0 ? await this.#init.storage.readCheckpointData(base) : undefined
    if (base > 0 && !data)
      throw new GroupStateError(`the checkpoint of ${this.workload} at ${base} has no data`)
    this.#machine = this.#newMachine(data)
    this.#fed = this.#machine.position
    this.#deliver(await this.#init.storage.readRange(base + 1, upto))
  }

  #newMachine(from?: Uint8Array): ReplicaMachine {
    const machine = new ReplicaMachine({
      image: this.#init.image,
      from,
      spec: this.#init.spec,
      output: this.output,
      stdin: this.#stdin,
      cacheDir: this.#init.cacheDir,
      onLiveEntry: (entry, frame) => this.#propose(entry.seq, frame),
      onLiveOutput: (seq, stream, bytes) => {
        const groupSeq = this.#groupSeqOf.get(seq)
        if (groupSeq === undefined)
          throw new GroupStateError(`output of machine entry ${seq}, which was not proposed`)
        this.#member.attachOutput(groupSeq, { seq, stream, bytes: bytes.slice() })
        this.#schedule()
      },
      onDigestCheck: (seq, agree, expected, got) => {
        this.#lastDigest = { seq, agree }
        this.#init.onEvent({ type: 'digest', seq, agree, expected: hex(expected), got: hex(got) })
      },
      markDue: (position) => position % this.#init.timing.checkpointEveryEntries === 0,
    })
    machine.ended.then((end) => {
      if (machine !== this.#machine || this.#closed) return
      this.#machineEnd = end
      this.#init.onEvent({ type: 'machine-ended', end })
    })
    return machine
  }

  #measureCommit(): void {
    const status = this.#member.status()
    if (status.commitSeq <= this.#commitSeen) return
    const now = performance.now()
    const latencies: number[] = []
    for (let seq = this.#commitSeen + 1; seq <= status.commitSeq; seq++) {
      const at = this.#proposedAt.get(seq)
      if (at !== undefined) {
        latencies.push((now - at) / 1000)
        this.#proposedAt.delete(seq)
      }
    }
    this.#commitSeen = status.commitSeq
    if (latencies.length > 0) this.#init.metrics?.committed(latencies)
    if (status.role === 'primary') {
      for (const f of status.followers) {
        const behind = status.lastSeq - f.matchSeq
        const oldest = this.#proposedAt.get(f.matchSeq + 1) ?? this.#proposedAtOf(f.matchSeq + 1)
        this.#init.metrics?.lag(
          f.member,
          behind,
          behind > 0 && oldest !== undefined ? (now - oldest) / 1000 : 0,
        )
      }
    }
  }

  /** When an already committed entry was proposed: gone from the map, so only its apply time is known. */
  #proposedAtOf(seq: number): number | undefined {
    const applied = this.#appliedAt.get(seq)
    return applied === undefined ? undefined : applied - Date.now() + performance.now()
  }

  #propose(machineSeq: number, frame: Uint8Array): void {
    const seq = this.#member.propose(frame)
    // Group seqs run ahead of machine seqs by the config entries in between: remember which is which.
    this.#groupSeqOf.set(machineSeq, seq)
    if (this.#groupSeqOf.size > 1024) this.#groupSeqOf.delete(this.#groupSeqOf.keys().next().value as number)
    this.#proposedAt.set(seq, performance.now())
    this.#init.metrics?.appended(1)
    this.#fed = machineSeq + 1
    this.#schedule()
  }

  #fail(error: Error): void {
    if (this.#failure) return
    this.#failure =
      error instanceof UnderstudyError ? error : new GroupStateError(error.message, { cause: error })
    clearTimeout(this.#timer)
    clearInterval(this.#timer)
    void this.#machine.stop()
    this.#init.onEvent({ type: 'failed', error: this.#failure })
  }
}

/** A checkpoint's ref names its seq: every member that checkpointed there holds the same state. */
function checkpointRef(seq: number): Uint8Array {
  return new TextEncoder().encode(`seq:${seq}`)
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}
