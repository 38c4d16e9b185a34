import { GroupStateError } from '../../errors/index.ts'
import type { Checkpoint, Entry, HardState, PersistedState, Ready } from './types.ts'

/**
 * The durable half of a member, kept in memory: what a crash keeps. It applies a Ready's storage part
 * in the documented order, and checks that the log it is given stays contiguous, as a level-backed
 * store must.
 */
export class MemoryStorage {
  #hardState: HardState = { epoch: 0, votedFor: undefined, commitSeq: 0 }
  #checkpoint: Checkpoint | undefined
  #entries: Entry[] = []

  /** Persists the storage part of a Ready. */
  save(ready: Pick<Ready, 'truncateFrom' | 'checkpoint' | 'entriesToPersist' | 'hardState'>): void {
    const from = ready.truncateFrom
    if (from !== undefined) this.#entries = this.#entries.filter((e) => e.seq < from)
    if (ready.checkpoint) {
      const cp = ready.checkpoint.checkpoint
      this.#checkpoint = cp
      this.#entries = this.#entries.filter((e) => e.seq > cp.seq)
    }
    for (const entry of ready.entriesToPersist) {
      const expected = (this.#entries.at(-1)?.seq ?? this.#checkpoint?.seq ?? 0) + 1
      if (entry.seq !== expected) {
        throw new GroupStateError(`persisting entry ${entry.seq} where ${expected} was expected`)
      }
      this.#entries.push(entry)
    }
    if (ready.hardState) this.#hardState = { ...ready.hardState }
  }

  /** What a restarted member is built from. */
  load(): PersistedState {
    return { hardState: { ...this.#hardState }, checkpoint: this.#checkpoint, entries: [...this.#entries] }
  }

  get hardState(): HardState {
    return { ...this.#hardState }
  }
}
