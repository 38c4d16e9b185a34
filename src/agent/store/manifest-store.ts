import { StoreError } from '../../errors/index.ts'
import { manifestKey, prefixEnd, SPACE_MANIFEST, workloadOfManifestKey } from './keys.ts'
import type { LevelHandle } from './level-handle.ts'
import { decodeManifest, encodeManifest, ValueDecodeError } from './values.ts'

/** JSON-safe metadata stored beside a manifest (owner, replicas, state: whatever the agent needs). */
export type ManifestMeta = Readonly<Record<string, unknown>>

export interface StoredManifest {
  workload: string
  /** The signed manifest exactly as received: the store never interprets it. */
  bytes: Uint8Array
  meta: ManifestMeta
}

const SPACE_START = Uint8Array.of(SPACE_MANIFEST)
const SPACE_END = prefixEnd(SPACE_START)

/** Workload manifests by name, each written with fsync (an agent restarts its workloads from them). */
export class ManifestStore {
  readonly #handle: LevelHandle

  constructor(handle: LevelHandle) {
    this.#handle = handle
  }

  async put(workload: string, bytes: Uint8Array, meta: ManifestMeta = {}): Promise<void> {
    await this.#handle.write(
      'store a manifest',
      [{ type: 'put', key: manifestKey(workload), value: encodeManifest(meta, bytes) }],
      true,
    )
  }

  async get(workload: string): Promise<StoredManifest | undefined> {
    const value = await this.#handle.run('read a manifest', (db) => db.get(manifestKey(workload)))
    return value ? this.#decode(workload, value) : undefined
  }

  /** Every stored manifest, by workload name. */
  async list(): Promise<StoredManifest[]> {
    const rows = await this.#handle.range('list manifests', SPACE_START, SPACE_END)
    return rows.map(([key, value]) => this.#decode(workloadOfManifestKey(key), value))
  }

  async delete(workload: string): Promise<void> {
    await this.#handle.write('delete a manifest', [{ type: 'del', key: manifestKey(workload) }], true)
  }

  #decode(workload: string, value: Uint8Array): StoredManifest {
    try {
      const { meta, bytes } = decodeManifest(value)
      if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
        throw new ValueDecodeError('metadata is not an object')
      return { workload, bytes, meta: meta as ManifestMeta }
    } catch (err) {
      const path = this.#handle.path
      throw new StoreError(
        'decode',
        path,
        `the store at ${path} is corrupt: the manifest of ${workload} does not decode`,
        {
          cause: err,
        },
      )
    }
  }
}
