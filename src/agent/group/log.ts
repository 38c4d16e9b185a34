import { GroupStateError } from '../../errors/index.ts'
import type { Checkpoint, Entry, LogPosition } from './types.ts'

const EMPTY = new Uint8Array(0)

/** Bytes an entry counts for in flow control: its data plus a fixed framing allowance. */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + 16
}

/**
 * A member's in-memory log: a checkpoint (the compacted prefix) and the entries after it. Whether an
 * entry is durable is tracked by the member, not here.
 */
export class GroupLog {
  #checkpoint: Checkpoint
  #entries: Entry[]

  constructor(checkpoint?: Checkpoint, entries: readonly Entry[] = []) {
    this.#checkpoint = checkpoint ?? { seq: 0, epoch: 0, ref: EMPTY }
    this.#entries = []
    this.append(entries)
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
    return dropped
  }

  /** Forgets the entries up to seq, which the checkpoint `ref` covers. */
  compact(seq: number, ref: Uint8Array): Checkpoint {
    const epoch = this.epochAt(seq)
    if (epoch === undefined || seq > this.lastSeq())
      throw new GroupStateError(`cannot compact at ${seq}: no such entry`)
    this.#entries = this.#entries.slice(seq - this.#checkpoint.seq)
    this.#checkpoint = { seq, epoch, ref }
    return this.#checkpoint
  }

  /** Replaces the whole log with a checkpoint received from the primary. */
  restore(checkpoint: Checkpoint): number {
    const dropped = this.#entries.length
    this.#entries = []
    this.#checkpoint = checkpoint
    return dropped
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
