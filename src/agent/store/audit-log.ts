import { StoreError } from '../../errors/index.ts'
import { auditKey, prefixEnd, readAuditKey, SPACE_AUDIT } from './keys.ts'
import type { LevelHandle } from './level-handle.ts'
import { decodeJson, encodeJson } from './values.ts'

/** One audited fact: a policy decision, a control action, a failover. JSON-safe. */
export interface AuditRecord {
  kind: string
  [field: string]: unknown
}

export interface AuditEntry {
  /** Orders entries; pass it as `after` to read on from here. */
  id: string
  /** Milliseconds since the Unix epoch, from the store's clock (never going backwards in the log). */
  time: number
  record: AuditRecord
}

export interface AuditReadOptions {
  /** Only entries after this id. */
  after?: string | undefined
  /** Only entries at or after this time. */
  since?: number | undefined
  limit?: number | undefined
  /** Newest first. */
  reverse?: boolean | undefined
}

const SPACE_START = Uint8Array.of(SPACE_AUDIT)
const SPACE_END = prefixEnd(SPACE_START)

/**
 * Append-only audit log keyed by (time, counter). Keys only grow, even if the wall clock steps back,
 * so reading from an id never misses a later entry. Appends are not synced: a machine crash may lose
 * the last few, a process crash does not.
 */
export class AuditLog {
  readonly #handle: LevelHandle
  readonly #now: () => number
  #last: { time: number; counter: number }

  constructor(handle: LevelHandle, now: () => number, last: { time: number; counter: number }) {
    this.#handle = handle
    this.#now = now
    this.#last = last
  }

  /** The key of the newest entry, so that appends after a restart sort after it. */
  static async readLast(handle: LevelHandle): Promise<{ time: number; counter: number }> {
    const rows = await handle.range('read the audit log end', SPACE_START, SPACE_END, {
      reverse: true,
      limit: 1,
    })
    const key = rows[0]?.[0]
    return key ? readAuditKey(key) : { time: 0, counter: 0 }
  }

  async append(record: AuditRecord): Promise<AuditEntry> {
    const now = this.#now()
    const next =
      now > this.#last.time
        ? { time: now, counter: 0 }
        : { time: this.#last.time, counter: this.#last.counter + 1 }
    this.#last = next
    const key = auditKey(next.time, next.counter)
    await this.#handle.write(
      'append to the audit log',
      [{ type: 'put', key, value: encodeJson(record) }],
      false,
    )
    return { id: Buffer.from(key.subarray(1)).toString('hex'), time: next.time, record }
  }

  async read(options: AuditReadOptions = {}): Promise<AuditEntry[]> {
    let lower: Uint8Array = SPACE_START
    if (options.after !== undefined) lower = prefixEnd(idKey(options.after))
    if (options.since !== undefined) {
      const since = auditKey(options.since, 0)
      if (Buffer.compare(since, lower) > 0) lower = since
    }
    const rows = await this.#handle.range('read the audit log', lower, SPACE_END, {
      reverse: options.reverse ?? false,
      limit: options.limit ?? -1,
    })
    return rows.map(([key, value]) => {
      const { time } = readAuditKey(key)
      let record: AuditRecord
      try {
        record = decodeJson(value) as AuditRecord
      } catch (err) {
        const path = this.#handle.path
        throw new StoreError(
          'decode',
          path,
          `the store at ${path} is corrupt: an audit record does not decode`,
          {
            cause: err,
          },
        )
      }
      return { id: Buffer.from(key.subarray(1)).toString('hex'), time, record }
    })
  }

  /** Drops entries older than `time` (retention); returns nothing, the space comes back at compaction. */
  async pruneBefore(time: number): Promise<void> {
    await this.#handle.run('prune the audit log', (db) =>
      db.clear({ gte: SPACE_START, lt: auditKey(time, 0) }),
    )
  }
}

function idKey(id: string): Uint8Array {
  if (!/^[0-9a-f]{24}$/.test(id)) {
    throw new RangeError(`not an audit entry id: ${JSON.stringify(id)}`)
  }
  return Uint8Array.of(SPACE_AUDIT, ...Buffer.from(id, 'hex'))
}
