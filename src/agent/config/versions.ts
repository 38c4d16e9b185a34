/**
 * Every on-disk and on-wire format version in one place, for upgrades: an agent reads
 * what it and older builds wrote, refuses what a newer build wrote, and says which.
 * The wire and file versions are owned by the layers that encode them; this module only
 * gathers them (for `--version` output, status and logs) and holds the store's own version.
 */
import { StoreVersionError } from '../../errors/index.ts'
import * as logStream from '../../mesh/log-stream/constants.ts'
import * as status from '../../mesh/status/constants.ts'
import { FRAME_VERSION } from '../../replay/log/log-codec.ts'
import { LOG_FILE_VERSION } from '../../replay/log/log-file.ts'
import { CHECKPOINT_FORMAT_VERSION } from '../../replay/wasm/checkpoint.ts'

/**
 * Layout of the level database in `<dataDir>/store`. The store records the version it was
 * created with; a change of key or value layout bumps this and ships a migration from
 * every older version (never rewriting an older store in a way its own build cannot read
 * until the migration has completed).
 */
export const STORE_FORMAT_VERSION = 1

/** First byte (or header field) of each binary format; a reader refuses a larger number. */
export const WIRE_VERSIONS = Object.freeze({
  /** Frames of the log-stream protocol. */
  logStream: logStream.WIRE_VERSION,
  /** Status responses. */
  status: status.WIRE_VERSION,
  /** One encoded log entry. */
  logFrame: FRAME_VERSION,
  /** A recorded log file. */
  logFile: LOG_FILE_VERSION,
  /** A checkpoint file. */
  checkpoint: CHECKPOINT_FORMAT_VERSION,
})

/** libp2p protocols, as `/<protocolPrefix>/<name>/<version>`; a new version can be served beside the old. */
export const PROTOCOLS = Object.freeze({
  logStream: Object.freeze({ name: logStream.PROTOCOL_NAME, version: logStream.PROTOCOL_VERSION }),
  status: Object.freeze({ name: status.PROTOCOL_NAME, version: status.PROTOCOL_VERSION }),
})

/** 'older': the store predates this build and must be migrated before it is written. */
export type StoreVersionStatus = 'current' | 'older'

/**
 * Checks the store format version found in a data directory against the newest this build
 * reads. Throws StoreVersionError for a newer or malformed version, so the agent stops
 * before it touches a store it does not understand.
 */
export function assertStoreVersion(
  found: unknown,
  supported: number = STORE_FORMAT_VERSION,
): StoreVersionStatus {
  if (typeof found !== 'number' || !Number.isSafeInteger(found) || found < 1) {
    throw new StoreVersionError(
      `this data directory records store format ${JSON.stringify(found) ?? String(found)}, which is not a ` +
        'version number: the store is damaged; restore the data directory from a backup or point --data-dir elsewhere',
      Number.NaN,
      supported,
    )
  }
  if (found > supported) {
    throw new StoreVersionError(
      `this data directory was written by a newer understudy (store format ${found}, this build reads ≤ ${supported}): ` +
        'upgrade understudy or point --data-dir elsewhere',
      found,
      supported,
    )
  }
  return found === supported ? 'current' : 'older'
}
