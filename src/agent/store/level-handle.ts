import type { BatchOperation, Level } from 'level'
import { StoreError } from '../../errors/index.ts'

/** The database the store runs on: binary keys and values. */
export type LevelDb = Level<Uint8Array, Uint8Array>

export type WriteOp = BatchOperation<LevelDb, Uint8Array, Uint8Array>

/**
 * The one place the store touches level: every call is wrapped so that a failure surfaces as a
 * StoreError naming the operation and carrying level's error as its cause.
 */
export class LevelHandle {
  readonly db: LevelDb
  readonly path: string
  #closed = false

  constructor(db: LevelDb, path: string) {
    this.db = db
    this.path = path
  }

  get closed(): boolean {
    return this.#closed
  }

  markClosed(): void {
    this.#closed = true
  }

  /** Runs `fn` against the database; any failure becomes a StoreError for `op`. */
  async run<T>(op: string, fn: (db: LevelDb) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreError(op, this.path, `cannot ${op}: the store at ${this.path} is closed`)
    try {
      return await fn(this.db)
    } catch (err) {
      throw toStoreError(op, this.path, err)
    }
  }

  /** One atomic batch: either every op is visible afterwards or none is. */
  async write(op: string, ops: WriteOp[], sync: boolean): Promise<void> {
    if (ops.length === 0) return
    await this.run(op, (db) => db.batch(ops, { sync }))
  }

  /** Entries with lower <= key < upper, in key order. */
  async range(
    op: string,
    lower: Uint8Array,
    upper: Uint8Array,
    options: { reverse?: boolean; limit?: number } = {},
  ): Promise<[Uint8Array, Uint8Array][]> {
    return this.run(op, (db) =>
      db
        .iterator({ gte: lower, lt: upper, reverse: options.reverse ?? false, limit: options.limit ?? -1 })
        .all(),
    )
  }

  /** Keys with lower <= key < upper, in key order. */
  async keys(op: string, lower: Uint8Array, upper: Uint8Array): Promise<Uint8Array[]> {
    return this.run(op, (db) => db.keys({ gte: lower, lt: upper }).all())
  }
}

export function toStoreError(op: string, path: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err
  const chain = causes(err)
  const text = chain.map((e) => e.message).join(': ')
  const codes = chain.map((e) => (e as { code?: unknown }).code)
  let hint = ''
  if (/no space left|ENOSPC/i.test(text)) hint = ' (the disk is full: free space, then restart the agent)'
  else if (codes.includes('LEVEL_LOCKED') || /\block\b/i.test(text))
    hint = ' (another process, probably another agent, has it open)'
  const message = `the store at ${path} could not ${op}: ${chain.at(-1)?.message ?? String(err)}${hint}`
  return new StoreError(op, path, message, { cause: err })
}

function causes(err: unknown): Error[] {
  const out: Error[] = []
  let e: unknown = err
  while (e instanceof Error && out.length < 8) {
    out.push(e)
    e = e.cause
  }
  if (out.length === 0) out.push(new Error(String(err)))
  return out
}
