import { createHash } from 'node:crypto'
import { GroupStateError, MembershipChangeError, NotPrimaryError } from '../../errors/index.ts'
import { checkHistory, type HistoryEvent, type Violation } from './checker.ts'
import { ReplicaGroupMember } from './group.ts'
import { MemoryStorage } from './memory-storage.ts'
import { createPrng, type Prng } from './prng.ts'
import type { Entry, GroupConfig, GroupStatus, MemberId, Message, Ready } from './types.ts'

/**
 * A deterministic in-memory replica group: network, disks, time and randomness all come from one
 * seed, so a failing run is replayed exactly by its seed (as FoundationDB's simulator does). Time is
 * counted in steps; members tick every `stepsPerTick` steps; a message takes minDelay..maxDelay steps.
 */
export interface SimulationOptions {
  seed: number
  /** Member ids, or how many (named m1, m2, ...). Default 3. */
  members?: number | readonly MemberId[]
  config?: Partial<Omit<GroupConfig, 'members'>>
  stepsPerTick?: number
  network?: Partial<NetworkFaults>
  /** Probability that a member leaves its pending Ready for a later step (a slow disk). Default 0. */
  persistDelay?: number
}

export interface NetworkFaults {
  minDelay: number
  maxDelay: number
  /** Probability that a message is lost. */
  drop: number
  /** Probability that a message is delivered twice. */
  duplicate: number
  /**
   * Probability that a message may overtake earlier ones on its link. Otherwise each link is FIFO,
   * as one libp2p stream is: a message is never delivered before one sent earlier on the same link.
   */
  reorder: number
}

export const DEFAULT_SIM_CONFIG: Omit<GroupConfig, 'members'> = {
  heartbeatTicks: 1,
  electionTicks: 10,
  maxBatchEntries: 64,
  maxInflightBytes: 64 * 1024,
}

/** The machine each member runs here: a running hash of the entries it applied. */
interface SimMachine {
  appliedSeq: number
  state: string
}

interface Queued {
  message: Message
  link: string
  n: number
}

interface SimNode {
  member: ReplicaGroupMember<number>
  machine: SimMachine
}

export interface Proposal {
  id: number
  member: MemberId
  seq: number
  epoch: number
}

const INITIAL_STATE = '0'.repeat(16)

export class Simulation {
  readonly seed: number
  readonly rng: Prng
  /** The initial group's configuration (members added later get their own, see addNode). */
  readonly config: GroupConfig
  readonly stepsPerTick: number
  readonly history: HistoryEvent[] = []
  network: NetworkFaults
  persistDelay: number

  #now = 0
  #nodes = new Map<MemberId, SimNode>()
  #storage = new Map<MemberId, MemoryStorage>()
  #inflight = new Map<number, Queued[]>()
  /** Per link (from>to), when its last in-order message is due. */
  #linkDue = new Map<string, number>()
  #sent = 0
  #blocked = new Set<string>()
  #checkpoints = new Map<string, { seq: number; state: string }>()
  #nextId = 1
  /** Every node ever created, in order; a retired one is gone for good. */
  #ids: MemberId[]
  #retired = new Set<MemberId>()
  #configs = new Map<MemberId, GroupConfig>()
  #crashedAt = new Map<MemberId, number>()

  constructor(options: SimulationOptions) {
    this.seed = options.seed
    this.rng = createPrng(options.seed)
    const members = options.members ?? 3
    this.#ids =
      typeof members === 'number' ? Array.from({ length: members }, (_, i) => `m${i + 1}`) : [...members]
    this.config = { ...DEFAULT_SIM_CONFIG, ...options.config, members: [...this.#ids] }
    this.stepsPerTick = options.stepsPerTick ?? 4
    this.network = { minDelay: 1, maxDelay: 3, drop: 0, duplicate: 0, reorder: 0, ...options.network }
    this.persistDelay = options.persistDelay ?? 0
    for (const id of this.#ids) {
      this.#configs.set(id, this.config)
      this.#storage.set(id, new MemoryStorage())
      this.#start(id)
    }
  }

  /** Every node not retired, up or crashed, whatever the group's configuration says of it. */
  get members(): readonly MemberId[] {
    return this.#ids.filter((id) => !this.#retired.has(id))
  }

  /** Steps since the start. */
  get now(): number {
    return this.#now
  }

  /** Ticks since the start, fractional between ticks. */
  get ticks(): number {
    return this.#now / this.stepsPerTick
  }

  /** Ticks since `id` crashed; undefined while it is up. */
  downTicks(id: MemberId): number | undefined {
    const at = this.#crashedAt.get(id)
    return at === undefined ? undefined : (this.#now - at) / this.stepsPerTick
  }

  /** The status of the live primary of the highest epoch, whose configuration is the group's latest. */
  primaryStatus(): GroupStatus | undefined {
    const p = this.primary()
    return p === undefined ? undefined : this.member(p)!.status()
  }

  /**
   * A new node with an empty log, as repair brings up on a new host: it joins as a learner of the
   * configuration the primary has now (or the initial one), and the group hears of it only once the
   * primary adds it (addMember). Returns its id.
   */
  addNode(id: MemberId = this.#freshId()): MemberId {
    if (this.#ids.includes(id)) throw new GroupStateError(`node ${id} exists already`)
    const members = this.primaryStatus()?.members ?? this.config.members
    this.#ids.push(id)
    this.#configs.set(id, { ...this.config, members: [...members], learners: [id] })
    this.#storage.set(id, new MemoryStorage())
    this.history.push({ type: 'fault', time: this.#now, what: `new node ${id}` })
    this.#start(id)
    return id
  }

  /**
   * Asks the primary (default: the live primary of the highest epoch) for a configuration change; the
   * seq of its config entry, or undefined if there is no primary or it refuses (not primary, handing
   * over, a change pending, or an invalid list).
   */
  proposeMembers(
    members: readonly MemberId[],
    at: MemberId | undefined = this.primary(),
  ): number | undefined {
    const m = at === undefined ? undefined : this.member(at)
    if (!m) return undefined
    try {
      const seq = m.proposeMembers(members)
      this.#fault(`configuration ${members.join(',')} proposed at ${at} as entry ${seq}`)
      return seq
    } catch (err) {
      if (err instanceof MembershipChangeError || err instanceof NotPrimaryError) return undefined
      throw err
    }
  }

  addMember(id: MemberId, at?: MemberId): number | undefined {
    const st = at === undefined ? this.primaryStatus() : this.member(at)?.status()
    return st && this.proposeMembers([...st.members, ...st.learners, id], at ?? st.id)
  }

  removeMember(id: MemberId, at?: MemberId): number | undefined {
    const st = at === undefined ? this.primaryStatus() : this.member(at)?.status()
    if (!st) return undefined
    return this.proposeMembers(
      [...st.members, ...st.learners].filter((m) => m !== id),
      at ?? st.id,
    )
  }

  /** Stops the node for good: a host that left (it keeps its storage, but is never restarted). */
  retire(id: MemberId): void {
    this.crash(id)
    this.#retired.add(id)
    this.#fault(`retire ${id}`)
  }

  /** The live member, or undefined while it is crashed. */
  member(id: MemberId): ReplicaGroupMember<number> | undefined {
    return this.#nodes.get(id)?.member
  }

  storage(id: MemberId): MemoryStorage {
    return this.#storage.get(id)!
  }

  machine(id: MemberId): Readonly<SimMachine> | undefined {
    return this.#nodes.get(id)?.machine
  }

  isUp(id: MemberId): boolean {
    return this.#nodes.has(id)
  }

  /** Live members that believe they are primary (a deposed one may not know yet). */
  primaries(): MemberId[] {
    return this.members.filter((id) => this.member(id)?.status().role === 'primary')
  }

  /** The live primary of the highest epoch. */
  primary(): MemberId | undefined {
    let best: MemberId | undefined
    let bestEpoch = -1
    for (const id of this.primaries()) {
      const epoch = this.member(id)!.status().epoch
      if (epoch > bestEpoch) {
        best = id
        bestEpoch = epoch
      }
    }
    return best
  }

  step(): void {
    this.#now++
    const due = this.#inflight.get(this.#now)
    if (due) {
      this.#inflight.delete(this.#now)
      for (const q of this.#order(due)) this.#deliver(q.message)
    }
    if (this.#now % this.stepsPerTick === 0) {
      for (const node of this.#nodes.values()) node.member.tick()
    }
    for (const id of this.rng.shuffle([...this.#nodes.keys()])) {
      const node = this.#nodes.get(id)!
      if (node.member.hasReady() && !this.rng.chance(this.persistDelay)) this.#processReady(id, node)
    }
  }

  run(ticks: number): void {
    const end = this.#now + Math.round(ticks * this.stepsPerTick)
    while (this.#now < end) this.step()
  }

  /** Runs until `done` holds (checked every step) or `maxTicks` pass; true if it held. */
  runUntil(done: (sim: Simulation) => boolean, maxTicks: number): boolean {
    const end = this.#now + Math.round(maxTicks * this.stepsPerTick)
    while (!done(this)) {
      if (this.#now >= end) return false
      this.step()
    }
    return true
  }

  /**
   * A client request: proposes at `member` (default: a random live member that believes it is
   * primary) with one output ticket. Undefined when there is no such member or it refuses.
   */
  propose(member?: MemberId): Proposal | undefined {
    const candidates = member ? [member] : this.primaries()
    if (candidates.length === 0) return undefined
    const at = this.rng.pick(candidates)
    const m = this.member(at)
    if (!m) return undefined
    const status = m.status()
    if (status.role !== 'primary' || status.transferringTo !== undefined) return undefined
    const id = this.#nextId++
    const data = new TextEncoder().encode(`op-${id}`)
    const seq = m.propose(data, [id])
    const proposal = { id, member: at, seq, epoch: status.epoch }
    this.history.push({ type: 'proposed', time: this.#now, ...proposal, data: fingerprint(data) })
    return proposal
  }

  transferLeadership(from: MemberId, to: MemberId): void {
    this.member(from)?.transferLeadership(to)
    this.#fault(`transfer ${from} -> ${to}`)
  }

  /** The member's machine checkpoints its applied state, and its log is compacted to it. */
  compact(id: MemberId): number | undefined {
    const node = this.#nodes.get(id)
    if (!node || node.machine.appliedSeq <= node.member.checkpoint().seq) return undefined
    const seq = node.machine.appliedSeq
    const ref = `${id}@${seq}#${this.#now}`
    this.#checkpoints.set(ref, { seq, state: node.machine.state })
    node.member.compact(seq, new TextEncoder().encode(ref))
    return seq
  }

  /** Cuts every link to and from `id`. */
  isolate(id: MemberId): void {
    for (const other of this.members) if (other !== id) this.#cut(id, other)
    this.#fault(`isolate ${id}`)
  }

  /** Cuts every link between members of different groups (members in no group keep their links). */
  partition(...groups: readonly (readonly MemberId[])[]): void {
    for (const [i, g] of groups.entries()) {
      for (const h of groups.slice(i + 1)) for (const a of g) for (const b of h) this.#cut(a, b)
    }
    this.#fault(`partition ${groups.map((g) => g.join(',')).join(' | ')}`)
  }

  heal(): void {
    this.#blocked.clear()
    this.#fault('heal')
  }

  /** Stops the member; it keeps only what it persisted. */
  crash(id: MemberId): void {
    if (!this.#nodes.delete(id)) return
    this.#crashedAt.set(id, this.#now)
    this.history.push({ type: 'crash', time: this.#now, member: id })
  }

  restart(id: MemberId): void {
    if (this.#nodes.has(id) || this.#retired.has(id)) return
    this.#crashedAt.delete(id)
    this.history.push({ type: 'restart', time: this.#now, member: id })
    this.#start(id)
  }

  check(): Violation[] {
    return checkHistory(this.history)
  }

  #start(id: MemberId): void {
    const stored = this.storage(id).load()
    const machine: SimMachine = { appliedSeq: 0, state: INITIAL_STATE }
    if (stored.checkpoint) {
      const cp = this.#restoreCheckpoint(stored.checkpoint.ref)
      machine.appliedSeq = cp.seq
      machine.state = cp.state
    }
    const member = new ReplicaGroupMember<number>({
      id,
      config: this.#configs.get(id)!,
      random: this.rng.next,
      storage: stored,
      appliedSeq: machine.appliedSeq,
    })
    this.#nodes.set(id, { member, machine })
    this.history.push({
      type: 'restore',
      time: this.#now,
      member: id,
      seq: machine.appliedSeq,
      state: machine.state,
    })
  }

  #restoreCheckpoint(ref: Uint8Array): { seq: number; state: string } {
    const key = new TextDecoder().decode(ref)
    const cp = this.#checkpoints.get(key)
    if (!cp) throw new GroupStateError(`no checkpoint ${key}`)
    return cp
  }

  #processReady(id: MemberId, node: SimNode): void {
    const rd: Ready<number> = node.member.ready()
    this.storage(id).save(rd)
    if (rd.hardState)
      this.history.push({ type: 'commit', time: this.#now, member: id, commitSeq: rd.hardState.commitSeq })
    if (rd.checkpoint?.restore) {
      const cp = this.#restoreCheckpoint(rd.checkpoint.checkpoint.ref)
      node.machine.appliedSeq = cp.seq
      node.machine.state = cp.state
      this.history.push({ type: 'restore', time: this.#now, member: id, seq: cp.seq, state: cp.state })
    }
    for (const m of rd.messages) this.#send(m)
    const commitSeq = this.storage(id).hardState.commitSeq
    for (const e of rd.committedToApply) this.#apply(id, node.machine, e, commitSeq)
    for (const t of rd.outputsToRelease) {
      this.history.push({
        type: 'released',
        time: this.#now,
        member: id,
        id: t.output,
        seq: t.seq,
        epoch: t.epoch,
      })
    }
    for (const ev of rd.events) {
      if (ev.type !== 'became-primary') {
        this.history.push({ type: 'event', time: this.#now, member: id, event: ev })
        continue
      }
      const m = node.member
      this.history.push({
        type: 'became-primary',
        time: this.#now,
        member: id,
        epoch: ev.epoch,
        log: m
          .readLog(m.checkpoint().seq + 1)
          .map((e) => ({ seq: e.seq, epoch: e.epoch, data: fingerprint(e.data) })),
        checkpointSeq: m.checkpoint().seq,
      })
    }
    node.member.advance(rd)
  }

  #apply(id: MemberId, machine: SimMachine, e: Entry, commitSeq: number): void {
    const data = fingerprint(e.data)
    machine.state = createHash('sha256')
      .update(`${machine.state}|${e.seq}|${e.epoch}|${e.kind}|${data}`)
      .digest('hex')
      .slice(0, 16)
    machine.appliedSeq = e.seq
    this.history.push({
      type: 'apply',
      time: this.#now,
      member: id,
      seq: e.seq,
      epoch: e.epoch,
      data,
      state: machine.state,
      commitSeq,
    })
  }

  #send(message: Message): void {
    const { minDelay, maxDelay, drop, duplicate, reorder } = this.network
    if (this.rng.chance(drop)) return
    const link = `${message.from}>${message.to}`
    const copies = this.rng.chance(duplicate) ? 2 : 1
    for (let i = 0; i < copies; i++) {
      let at = this.#now + Math.max(1, minDelay + this.rng.int(maxDelay - minDelay + 1))
      if (!this.rng.chance(reorder)) {
        at = Math.max(at, this.#linkDue.get(link) ?? 0)
        this.#linkDue.set(link, at)
      }
      const q: Queued = { message, link, n: this.#sent++ }
      const bucket = this.#inflight.get(at)
      if (bucket) bucket.push(q)
      else this.#inflight.set(at, [q])
    }
  }

  /** A random interleaving of the links, each link's messages kept in the order they were sent. */
  #order(due: Queued[]): Queued[] {
    const shuffled = this.rng.shuffle(due)
    const byLink = new Map<string, Queued[]>()
    for (const q of shuffled) {
      const list = byLink.get(q.link)
      if (list) list.push(q)
      else byLink.set(q.link, [q])
    }
    for (const list of byLink.values()) list.sort((a, b) => a.n - b.n)
    return shuffled.map((q) => byLink.get(q.link)!.shift()!)
  }

  #deliver(m: Message): void {
    if (this.#blocked.has(`${m.from}>${m.to}`)) return
    this.#nodes.get(m.to)?.member.step(m)
  }

  #cut(a: MemberId, b: MemberId): void {
    this.#blocked.add(`${a}>${b}`)
    this.#blocked.add(`${b}>${a}`)
  }

  #freshId(): MemberId {
    let n = this.#ids.length + 1
    while (this.#ids.includes(`m${n}`)) n++
    return `m${n}`
  }

  #fault(what: string): void {
    this.history.push({ type: 'fault', time: this.#now, what })
  }
}

/** A short hex fingerprint of entry bytes. */
export function fingerprint(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16)
}
