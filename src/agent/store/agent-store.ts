import { Level } from 'level'
import { StoreError, StoreVersionError } from '../../errors/index.ts'
import { AuditLog } from './audit-log.ts'
import { GroupStorage } from './group-storage.ts'
import { FORMAT_KEY, GroupKeys, prefixEnd, SPACE_GROUP, workloadBytes, workloadOfGroupKey } from './keys.ts'
import { type LevelDb, LevelHandle, toStoreError } from './level-handle.ts'
import { ManifestStore } from './manifest-store.ts'
import { decodeJson, encodeJson } from './values.ts'

/** The store format this build writes and reads. Raise it (with a migration) when the layout changes. */
export const STORE_FORMAT_VERSION = 1

export interface StoreOptions {
  /** Directory of the LevelDB database; created if missing. */
  path: string
  /**
   * fsync replica-group writes and manifests (default true). Without it a process crash loses
   * nothing, but a machine crash can lose the last writes, which the group protocol counts on (a
   * vote or an ack must not be forgotten). Cost: bench/store.ts.
   */
  sync?: boolean | undefined
  /** Clock for audit keys (default Date.now). */
  now?: (() => number) | undefined
  /** An unopened database to use instead of `new Level(path)`: tests inject faults with it. */
  db?: LevelDb | undefined
}

/** The format record, written once when the store is created. */
export interface FormatRecord {
  format: 'understudy-agent-store'
  version: number
  createdAt: string
}

const GROUP_SPACE = Uint8Array.of(SPACE_GROUP)

/**
 * The agent's durable store: one LevelDB database holding every workload's replica-group state,
 * the workload manifests and the audit log. See keys.ts for the layout.
 */
export class AgentStore {
  readonly path: string
  readonly format: FormatRecord
  readonly manifests: ManifestStore
  readonly audit: AuditLog
  readonly #handle: LevelHandle
  readonly #sync: boolean
  readonly #groups = new Map<string, GroupStorage>()
  #closing: Promise<void> | undefined

  private constructor(handle: LevelHandle, format: FormatRecord, sync: boolean, audit: AuditLog) {
    this.#handle = handle
    this.path = handle.path
    this.format = format
    this.#sync = sync
    this.manifests = new ManifestStore(handle)
    this.audit = audit
  }

  /**
   * Opens (creating if needed) the store at `options.path`. Refuses a store written by a newer
   * build with StoreVersionError; any level failure (locked by another agent, I/O) is a StoreError.
   */
  static async open(options: StoreOptions): Promise<AgentStore> {
    const db =
      options.db ??
      new Level<Uint8Array, Uint8Array>(options.path, { keyEncoding: 'view', valueEncoding: 'view' })
    try {
      await db.open()
    } catch (err) {
      throw toStoreError('open', options.path, err)
    }
    const handle = new LevelHandle(db, options.path)
    try {
      const format = await readOrCreateFormat(handle, options.now ?? Date.now)
      const audit = new AuditLog(handle, options.now ?? Date.now, await AuditLog.readLast(handle))
      return new AgentStore(handle, format, options.sync ?? true, audit)
    } catch (err) {
      await db.close().catch(() => {}) // the open failure is what the caller needs to see
      throw err
    }
  }

  /**
   * The durable state of one workload's replica group. One instance per workload while it is usable;
   * after a failed write it is replaced by a fresh one read from disk.
   */
  async openGroup(workload: string): Promise<GroupStorage> {
    workloadBytes(workload)
    const open = this.#groups.get(workload)
    if (open) {
      await open.drain()
      if (!open.failure) return open
    }
    const cursors = await GroupStorage.readCursors(this.#handle, workload)
    const group = new GroupStorage(this.#handle, workload, this.#sync, cursors)
    this.#groups.set(workload, group)
    return group
  }

  /** Workloads that have replica-group state here, by name. */
  async listGroups(): Promise<string[]> {
    return this.#handle.run('list groups', async (db) => {
      const names: string[] = []
      const it = db.keys({ gte: GROUP_SPACE, lt: prefixEnd(GROUP_SPACE) })
      try {
        for (let key = await it.next(); key !== undefined; key = await it.next()) {
          const name = workloadOfGroupKey(key)
          names.push(name)
          it.seek(new GroupKeys(name).end)
        }
      } finally {
        await it.close()
      }
      return names
    })
  }

  /** Removes every trace of a workload's group state in one atomic batch (its manifest stays). */
  async deleteGroup(workload: string): Promise<void> {
    const keys = new GroupKeys(workload)
    const open = this.#groups.get(workload)
    if (open) await open.drain()
    const all = await this.#handle.keys('list group keys', keys.prefix, keys.end)
    await this.#handle.write(
      'delete a group',
      all.map((key) => ({ type: 'del', key })),
      this.#sync,
    )
    this.#groups.delete(workload)
  }

  /** Waits for pending group writes, then closes the database. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#groups.values()].map((g) => g.drain()))
      this.#handle.markClosed()
      try {
        await this.#handle.db.close()
      } catch (err) {
        throw toStoreError('close', this.path, err)
      }
    })()
    return this.#closing
  }
}

async function readOrCreateFormat(handle: LevelHandle, now: () => number): Promise<FormatRecord> {
  const value = await handle.run('read the format record', (db) => db.get(FORMAT_KEY))
  if (value === undefined) {
    const any = await handle.run('look for existing data', (db) => db.keys({ limit: 1 }).all())
    if (any.length > 0) {
      throw new StoreVersionError(
        `the store at ${handle.path} holds data but no format record: it was not written by understudy, or is damaged`,
        0,
        STORE_FORMAT_VERSION,
      )
    }
    const record: FormatRecord = {
      format: 'understudy-agent-store',
      version: STORE_FORMAT_VERSION,
      createdAt: new Date(now()).toISOString(),
    }
    await handle.write(
      'write the format record',
      [{ type: 'put', key: FORMAT_KEY, value: encodeJson(record) }],
      true,
    )
    return record
  }
  let record: Partial<FormatRecord>
  try {
    record = decodeJson(value) as Partial<FormatRecord>
  } catch (err) {
    throw new StoreError(
      'decode',
      handle.path,
      `the store at ${handle.path} has a format record that does not decode`,
      {
        cause: err,
      },
    )
  }
  const version = record.version
  if (
    record.format !== 'understudy-agent-store' ||
    typeof version !== 'number' ||
    !Number.isInteger(version) ||
    version < 1
  ) {
    throw new StoreVersionError(
      `the store at ${handle.path} has an unknown format record ${JSON.stringify(record)}`,
      typeof version === 'number' ? version : 0,
      STORE_FORMAT_VERSION,
    )
  }
  if (version > STORE_FORMAT_VERSION) {
    throw new StoreVersionError(
      `the store at ${handle.path} was written by a newer understudy (store format ${version}; this build reads ` +
        `format ${STORE_FORMAT_VERSION}): upgrade understudy to use it`,
      version,
      STORE_FORMAT_VERSION,
    )
  }
  return record as FormatRecord
}
