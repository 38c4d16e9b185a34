import { GroupStateError, StoreError } from '../../errors/index.ts'
import type { Checkpoint, Entry, HardState, PersistedState, Ready } from '../group/types.ts'
import { GroupKeys } from './keys.ts'
import type { LevelHandle, WriteOp } from './level-handle.ts'
import {
  decodeCheckpoint,
  decodeEntryValue,
  decodeHardState,
  decodeU64,
  encodeCheckpoint,
  encodeEntryValue,
  encodeHardState,
  encodeU64,
  ValueDecodeError,
} from './values.ts'

/** What a restarted member is built from (pass it as ReplicaGroupMember's `storage`). */
export interface LoadedGroup extends PersistedState {
  checkpoint: Checkpoint | undefined
  /**
   * The last seq markApplied() recorded (at least the checkpoint's): how far outputs were released
   * before the restart. The machine itself restarts from the checkpoint, so the member's `appliedSeq`
   * is the checkpoint's seq unless the agent restores the machine further.
   */
  appliedSeq: number
}

/** The storage part of a Ready (a whole Ready will do). */
export type ReadyStorage = Pick<Ready, 'truncateFrom' | 'checkpoint' | 'hardState'> & {
  entriesToPersist?: readonly Entry[] | undefined
}

/** Checkpoint data is split so that no single level value is huge. */
export const CHECKPOINT_CHUNK_BYTES = 1 << 20

const INITIAL_HARD_STATE: HardState = { epoch: 0, votedFor: undefined, commitSeq: 0 }
const EMPTY = new Uint8Array(0)

/**
 * The durable half of one replica-group member, in level: what MemoryStorage keeps in memory. Each
 * persist() is one atomic batch, so a crash leaves either the whole Ready or none of it. Calls are
 * serialized in the order made (Readies must be persisted in the order taken).
 *
 * After a write fails the instance refuses everything with that StoreError: the member's view and the
 * disk may now differ, so the agent must rebuild the member from AgentStore.openGroup().
 */
export class GroupStorage {
  readonly workload: string
  readonly #handle: LevelHandle
  readonly #keys: GroupKeys
  readonly #sync: boolean
  #checkpoint: Checkpoint
  #lastSeq: number
  #queue: Promise<unknown> = Promise.resolve()
  #failed: StoreError | undefined

  /** Use AgentStore.openGroup(), which reads the cursors first. */
  constructor(
    handle: LevelHandle,
    workload: string,
    sync: boolean,
    cursors: { checkpoint: Checkpoint; lastSeq: number },
  ) {
    this.#handle = handle
    this.workload = workload
    this.#keys = new GroupKeys(workload)
    this.#sync = sync
    this.#checkpoint = cursors.checkpoint
    this.#lastSeq = cursors.lastSeq
  }

  /** Reads where the stored log starts and ends. */
  static async readCursors(
    handle: LevelHandle,
    workload: string,
  ): Promise<{ checkpoint: Checkpoint; lastSeq: number }> {
    const keys = new GroupKeys(workload)
    const checkpoint = await readCheckpoint(handle, keys)
    const last = await handle.range('read the log end', keys.entry(0), keys.entry(Number.MAX_SAFE_INTEGER), {
      reverse: true,
      limit: 1,
    })
    const lastKey = last[0]?.[0]
    return { checkpoint, lastSeq: Math.max(checkpoint.seq, lastKey ? keys.entrySeq(lastKey) : 0) }
  }

  /** Last stored seq (the checkpoint's when the log after it is empty). */
  get lastSeq(): number {
    return this.#lastSeq
  }

  get checkpoint(): Checkpoint {
    return this.#checkpoint
  }

  /** The write failure that made this instance unusable, if any. */
  get failure(): StoreError | undefined {
    return this.#failed
  }

  /** Everything durable, as ReplicaGroupMember's `storage` (and `appliedSeq`) want it. */
  load(): Promise<LoadedGroup> {
    return this.#serial(async () => {
      const handle = this.#handle
      const keys = this.#keys
      const [hsValue, appliedValue] = await handle.run('load the group state', (db) =>
        db.getMany([keys.hardState, keys.applied]),
      )
      const hardState = hsValue
        ? this.#decode('hard state', () => decodeHardState(hsValue))
        : { ...INITIAL_HARD_STATE }
      const checkpoint = await readCheckpoint(handle, keys)
      const rows = await handle.range(
        'load the log',
        keys.entry(checkpoint.seq + 1),
        keys.entry(Number.MAX_SAFE_INTEGER),
      )
      const entries: Entry[] = []
      let expected = checkpoint.seq + 1
      for (const [key, value] of rows) {
        const seq = keys.entrySeq(key)
        if (seq !== expected) {
          throw this.#corrupt(
            `the stored log of ${this.workload} has a gap: entry ${expected} is missing before ${seq}`,
          )
        }
        entries.push(this.#decode(`entry ${seq}`, () => decodeEntryValue(seq, value)))
        expected++
      }
      const applied = appliedValue ? this.#decode('applied seq', () => decodeU64(appliedValue)) : 0
      return {
        hardState,
        checkpoint: checkpoint.seq > 0 || checkpoint.ref.byteLength > 0 ? checkpoint : undefined,
        entries,
        appliedSeq: Math.max(applied, checkpoint.seq),
      }
    })
  }

  /**
   * Persists a Ready's storage part in ONE atomic batch, in the documented order: truncate from
   * `truncateFrom`, store the checkpoint (a restore also drops the log after it), append the entries,
   * store the hard state. Entries at or before the checkpoint are left for compact(): load() never
   * reads them, so leaving them is safe and keeps this batch small.
   */
  persist(ready: ReadyStorage): Promise<void> {
    return this.#serial(async () => {
      const ops: WriteOp[] = []
      let last = this.#lastSeq
      let checkpoint = this.#checkpoint
      const del = (from: number, to: number) => {
        for (let seq = from; seq <= to; seq++) ops.push({ type: 'del', key: this.#keys.entry(seq) })
      }

      if (ready.truncateFrom !== undefined) {
        if (ready.truncateFrom <= checkpoint.seq) {
          throw new GroupStateError(
            `cannot truncate at ${ready.truncateFrom}: it is in checkpoint ${checkpoint.seq}`,
          )
        }
        del(ready.truncateFrom, last)
        last = Math.min(last, ready.truncateFrom - 1)
      }
      if (ready.checkpoint) {
        const cp = ready.checkpoint.checkpoint
        if (cp.seq < checkpoint.seq) {
          throw new GroupStateError(
            `checkpoint ${cp.seq} is older than the stored checkpoint ${checkpoint.seq}`,
          )
        }
        ops.push({ type: 'put', key: this.#keys.checkpoint, value: encodeCheckpoint(cp) })
        if (ready.checkpoint.restore) {
          // The member's log is now only the checkpoint: whatever follows it here is from another history.
          del(cp.seq + 1, last)
          last = cp.seq
        } else {
          last = Math.max(last, cp.seq)
        }
        checkpoint = cp
      }
      for (const entry of ready.entriesToPersist ?? []) {
        if (entry.seq !== last + 1) {
          throw new GroupStateError(
            `persisting entry ${entry.seq} of ${this.workload} where ${last + 1} was expected`,
          )
        }
        ops.push({ type: 'put', key: this.#keys.entry(entry.seq), value: encodeEntryValue(entry) })
        last = entry.seq
      }
      if (ready.hardState) {
        ops.push({ type: 'put', key: this.#keys.hardState, value: encodeHardState(ready.hardState) })
      }
      await this.#write('persist a Ready', ops)
      this.#lastSeq = last
      this.#checkpoint = checkpoint
    })
  }

  /** Stored entries from..to inclusive that follow the checkpoint, in seq order. */
  async readRange(fromSeq: number, toSeq: number = this.#lastSeq): Promise<Entry[]> {
    this.#throwIfFailed()
    const from = Math.max(fromSeq, this.#checkpoint.seq + 1)
    const to = Math.min(toSeq, this.#lastSeq)
    if (from > to) return []
    const rows = await this.#handle.range('read the log', this.#keys.entry(from), this.#keys.entry(to + 1))
    return rows.map(([key, value]) => {
      const seq = this.#keys.entrySeq(key)
      return this.#decode(`entry ${seq}`, () => decodeEntryValue(seq, value))
    })
  }

  /**
   * Reclaims the space of entries up to `uptoSeq` (at most the stored checkpoint's seq, the default)
   * and of checkpoint data older than the stored checkpoint. Not atomic, and need not be: load() only
   * reads past the checkpoint, so a crash half way leaves nothing visible.
   */
  compact(uptoSeq: number = this.#checkpoint.seq): Promise<void> {
    return this.#serial(async () => {
      if (uptoSeq > this.#checkpoint.seq) {
        throw new GroupStateError(
          `cannot compact ${this.workload} to ${uptoSeq}: the stored checkpoint is at ${this.#checkpoint.seq}`,
        )
      }
      await this.#handle.run('compact the log', async (db) => {
        await db.clear({ gte: this.#keys.entry(0), lt: this.#keys.entry(uptoSeq + 1) })
        await db.clear({
          gte: this.#keys.checkpointData(0, 0),
          lt: this.#keys.checkpointData(this.#checkpoint.seq, 0),
        })
      })
    })
  }

  /** Records that the machine has applied up to `seq`; not synced (losing it only re-applies). */
  markApplied(seq: number): Promise<void> {
    return this.#serial(() =>
      this.#write(
        'record the applied seq',
        [{ type: 'put', key: this.#keys.applied, value: encodeU64(seq) }],
        false,
      ),
    )
  }

  /**
   * Stores the bytes of the checkpoint taken after `seq`, replacing any stored for that seq. Write
   * them before handing the checkpoint to the member, so that a persisted checkpoint always has data.
   */
  writeCheckpointData(seq: number, data: Uint8Array): Promise<void> {
    return this.#serial(async () => {
      const old = await this.#handle.keys(
        'list checkpoint data',
        this.#keys.checkpointData(seq, 0),
        this.#keys.checkpointData(seq + 1, 0),
      )
      const ops: WriteOp[] = old.map((key) => ({ type: 'del', key }))
      const chunks = Math.max(1, Math.ceil(data.byteLength / CHECKPOINT_CHUNK_BYTES))
      for (let i = 0; i < chunks; i++) {
        const value = data.subarray(i * CHECKPOINT_CHUNK_BYTES, (i + 1) * CHECKPOINT_CHUNK_BYTES)
        ops.push({
          type: 'put',
          key: this.#keys.checkpointData(seq, i),
          value: value.byteLength > 0 ? value : EMPTY,
        })
      }
      await this.#write('store checkpoint data', ops)
    })
  }

  /** The bytes stored for the checkpoint after `seq`, or undefined. */
  async readCheckpointData(seq: number): Promise<Uint8Array | undefined> {
    this.#throwIfFailed()
    const rows = await this.#handle.range(
      'read checkpoint data',
      this.#keys.checkpointData(seq, 0),
      this.#keys.checkpointData(seq + 1, 0),
    )
    if (rows.length === 0) return undefined
    const out = new Uint8Array(rows.reduce((n, [, v]) => n + v.byteLength, 0))
    let at = 0
    for (const [, value] of rows) {
      out.set(value, at)
      at += value.byteLength
    }
    return out
  }

  /** Resolves when every call made so far has finished (whatever its outcome). */
  async drain(): Promise<void> {
    await this.#queue.catch(() => {})
  }

  async #write(op: string, ops: WriteOp[], sync = this.#sync): Promise<void> {
    try {
      await this.#handle.write(op, ops, sync)
    } catch (err) {
      // The member will believe otherwise than the disk from here on: refuse further use.
      this.#failed = err as StoreError
      throw err
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      this.#throwIfFailed()
      return fn()
    })
    this.#queue = run.catch(() => {})
    return run
  }

  #throwIfFailed(): void {
    if (this.#failed) {
      throw new StoreError(
        this.#failed.op,
        this.#failed.path,
        `the stored state of ${this.workload} is unusable after an earlier write failed; reopen it: ${this.#failed.message}`,
        { cause: this.#failed },
      )
    }
  }

  #decode<T>(what: string, fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      if (err instanceof ValueDecodeError)
        throw this.#corrupt(`${what} of ${this.workload} does not decode: ${err.message}`, err)
      throw err
    }
  }

  #corrupt(message: string, cause?: unknown): StoreError {
    return new StoreError(
      'decode',
      this.#handle.path,
      `the store at ${this.#handle.path} is corrupt: ${message}`,
      { cause },
    )
  }
}

async function readCheckpoint(handle: LevelHandle, keys: GroupKeys): Promise<Checkpoint> {
  const value = await handle.run('read the checkpoint', (db) => db.get(keys.checkpoint))
  if (!value) return { seq: 0, epoch: 0, ref: EMPTY }
  try {
    return decodeCheckpoint(value)
  } catch (err) {
    throw new StoreError(
      'decode',
      handle.path,
      `the store at ${handle.path} is corrupt: checkpoint metadata does not decode`,
      {
        cause: err,
      },
    )
  }
}
