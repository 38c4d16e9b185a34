/**
 * The primary's log does not grow without bound: it never checkpoints its live machine (that would
 * pause it), so once its log holds more than a few checkpoint intervals it adopts a checkpoint its
 * shadows took — only one that a majority of the group holds (itself included once adopted), so the
 * log before it can always be rebuilt — and truncates its log there.
 */
import type { Replica } from '../replica/replica.ts'

export interface CompactionActions {
  /** Entries between checkpoints (config replication.checkpointEveryEntries). */
  everyEntries: number
  /** Each member's latest checkpoint seq (0: none), as it reports it; unreachable members absent. */
  checkpointSeqs(): Promise<Map<string, number>>
  /** The bytes of `member`'s checkpoint after `seq`. */
  fetch(member: string, seq: number): Promise<Uint8Array>
  compacted(seq: number, bytes: number): void
}

export class PrimaryCompactor {
  readonly #replica: Replica
  readonly #actions: CompactionActions
  #busy = false

  constructor(replica: Replica, actions: CompactionActions) {
    this.#replica = replica
    this.#actions = actions
  }

  async check(): Promise<void> {
    if (this.#busy) return
    const st = this.#replica.status()
    if (st.role !== 'primary' || !st.live) return
    if (st.appliedSeq - st.checkpointSeq < 3 * this.#actions.everyEntries) return
    this.#busy = true
    try {
      const seqs = await this.#actions.checkpointSeqs()
      const quorum = Math.floor(st.members.length / 2) + 1
      // The newest seq that, with the primary adopting it, a majority holds a checkpoint at or after.
      const held = [...seqs.entries()]
        .filter(([member, seq]) => member !== st.id && st.members.includes(member) && seq > st.checkpointSeq)
        .sort((a, b) => b[1] - a[1])
      const candidate = held[quorum - 2]
      if (!candidate) return
      const [member, seq] = candidate
      if (seq > st.appliedSeq) return
      const data = await this.#actions.fetch(member, seq)
      if (await this.#replica.adoptCheckpoint(seq, data)) this.#actions.compacted(seq, data.byteLength)
    } finally {
      this.#busy = false
    }
  }
}
