import { GroupStateError } from '../../errors/index.ts'
import { membershipOf } from './membership.ts'
import { decodeMembership } from './membership-codec.ts'
import type { Checkpoint, Entry, LogPosition, MemberId, Membership } from './types.ts'

const EMPTY = new Uint8Array(0)

/** Bytes an entry counts for in flow control: its data plus a fixed framing allowance. */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + 16
}

/**
 * A configuration and where it came from: the seq of its config entry (kept after compaction; a
 * checkpoint's seq when it came with one) and whether it is known or only assumed (a joiner's
 * placeholder, which must never be written into a checkpoint as a fact).
 */
export interface BaseMembership {
  membership: Membership
  seq: number
  known: boolean
}

/**
 * A member's in-memory log: a checkpoint (the compacted prefix) and the entries after it, and the
 * configurations they hold (the checkpoint's, then each config entry's). Whether an entry is durable
 * is tracked by the member, not here.
 */
export class GroupLog {
  #checkpoint: Checkpoint
  #entries: Entry[]
  /** The configuration at the checkpoint. */
  #base: BaseMembership
  /** Config entries after the checkpoint, in seq order. */
  #configs: { seq: number; membership: Membership }[] = []

  /** `initial`: the configuration when the checkpoint does not carry one. */
  constructor(checkpoint: Checkpoint | undefined, entries: readonly Entry[], initial: BaseMembership) {
    this.#checkpoint = checkpoint ?? { seq: 0, epoch: 0, ref: EMPTY }
    const carried = membershipOf(checkpoint)
    this.#base = carried ? { membership: carried, seq: this.#checkpoint.seq, known: true } : initial
    this.#entries = []
    this.append(entries)
  }

  /** The configuration in effect: the latest in the log, committed or not. */
  membership(): Membership {
    return this.#configs.at(-1)?.membership ?? this.#base.membership
  }

  /** The seq of the latest configuration's config entry (see BaseMembership). */
  configSeq(): number {
    return this.#configs.at(-1)?.seq ?? this.#base.seq
  }

  /** The configuration in effect at `seq` (the checkpoint's for any seq before it). */
  membershipAt(seq: number): Membership {
    return this.#configAt(seq).membership
  }

  /** Whether a configuration this log really holds (not an assumed one) includes `id`. */
  everIncluded(id: MemberId): boolean {
    const has = (m: Membership) => m.members.includes(id) || m.learners.includes(id)
    return (this.#base.known && has(this.#base.membership)) || this.#configs.some((c) => has(c.membership))
  }

  get checkpoint(): Checkpoint {
    return this.#checkpoint
  }

  firstSeq(): number {
    return this.#checkpoint.seq + 1
  }

  lastSeq(): number {
    return this.#checkpoint.seq + this.#entries.length
  }

  lastPosition(): LogPosition {
    const last = this.#entries.at(-1)
    return last
      ? { seq: last.seq, epoch: last.epoch }
      : { seq: this.#checkpoint.seq, epoch: this.#checkpoint.epoch }
  }

  /** The epoch of the entry at seq; undefined when it is compacted away or not written yet. */
  epochAt(seq: number): number | undefined {
    if (seq === this.#checkpoint.seq) return this.#checkpoint.epoch
    return this.entry(seq)?.epoch
  }

  entry(seq: number): Entry | undefined {
    if (seq <= this.#checkpoint.seq) return undefined
    return this.#entries[seq - this.#checkpoint.seq - 1]
  }

  /** Entries from..to inclusive, stopping early at maxEntries or before exceeding maxBytes (at least one). */
  slice(
    from: number,
    to: number,
    maxEntries = Number.POSITIVE_INFINITY,
    maxBytes = Number.POSITIVE_INFINITY,
  ) {
    if (from < this.firstSeq())
      throw new GroupStateError(`entry ${from} is compacted (log starts at ${this.firstSeq()})`)
    const out: Entry[] = []
    let bytes = 0
    for (let seq = from; seq <= Math.min(to, this.lastSeq()) && out.length < maxEntries; seq++) {
      const entry = this.entry(seq)!
      bytes += entryBytes(entry)
      if (out.length > 0 && bytes > maxBytes) break
      out.push(entry)
    }
    return out
  }

  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.seq !== this.lastSeq() + 1) {
        throw new GroupStateError(`entry ${entry.seq} does not follow the log's last entry ${this.lastSeq()}`)
      }
      // Decoded before the entry is taken: a config that does not decode must not half-enter the log.
      if (entry.kind === 'config') {
        this.#configs.push({ seq: entry.seq, membership: decodeMembership(entry.data, entry.seq) })
      }
      this.#entries.push(entry)
    }
  }

  /** Drops the entries from seq on; returns how many. */
  truncateFrom(seq: number): number {
    if (seq <= this.#checkpoint.seq)
      throw new GroupStateError(`cannot truncate at ${seq}: it is in the checkpoint`)
    const keep = Math.max(0, seq - this.#checkpoint.seq - 1)
    const dropped = Math.max(0, this.#entries.length - keep)
    this.#entries.length = Math.min(this.#entries.length, keep)
    this.#configs = this.#configs.filter((c) => c.seq < seq)
    return dropped
  }

  /** Forgets the entries up to seq, which the checkpoint `ref` covers. */
  compact(seq: number, ref: Uint8Array): Checkpoint {
    const epoch = this.epochAt(seq)
    if (epoch === undefined || seq > this.lastSeq())
      throw new GroupStateError(`cannot compact at ${seq}: no such entry`)
    const base = this.#configAt(seq)
    this.#entries = this.#entries.slice(seq - this.#checkpoint.seq)
    this.#configs = this.#configs.filter((c) => c.seq > seq)
    this.#base = base
    // Only a known configuration goes into the checkpoint: an assumed one must not become a fact.
    this.#checkpoint = base.known
      ? { seq, epoch, ref, members: base.membership.members, learners: base.membership.learners }
      : { seq, epoch, ref }
    return this.#checkpoint
  }

  /** Replaces the whole log with a checkpoint received from the primary. */
  restore(checkpoint: Checkpoint): number {
    const dropped = this.#entries.length
    const carried = membershipOf(checkpoint)
    this.#base = carried
      ? { membership: carried, seq: checkpoint.seq, known: true }
      : this.#configAt(checkpoint.seq)
    this.#entries = []
    this.#configs = []
    this.#checkpoint = checkpoint
    return dropped
  }

  #configAt(seq: number): BaseMembership {
    for (let i = this.#configs.length - 1; i >= 0; i--) {
      const c = this.#configs[i]!
      if (c.seq <= seq) return { membership: c.membership, seq: c.seq, known: true }
    }
    return this.#base
  }

  /** Raft's election restriction: a candidate's log must be at least as up to date as ours. */
  isUpToDate(candidate: LogPosition): boolean {
    const ours = this.lastPosition()
    return candidate.epoch > ours.epoch || (candidate.epoch === ours.epoch && candidate.seq >= ours.seq)
  }

  /**
   * The largest seq <= `seq` whose epoch is <= `epoch`: the last place where this log can agree with a
   * log that has `epoch` at `seq`. Stops at the checkpoint (everything at or before it is committed).
   */
  lastAgreeable(seq: number, epoch: number): number {
    for (let s = Math.min(seq, this.lastSeq()); s > this.#checkpoint.seq; s--) {
      if (this.entry(s)!.epoch <= epoch) return s
    }
    return Math.min(seq, this.#checkpoint.seq)
  }
}
