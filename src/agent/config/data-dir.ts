/**
 * The agent's data directory (documented in docs/data-dir.md). Everything an agent must
 * not lose or leak lives here, so it is private to the user running the agent: directories
 * are created 0700, and a directory another user owns or anyone may write is refused
 * rather than repaired, since its contents can no longer be trusted.
 */
import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { DataDirError } from '../../errors/index.ts'

export interface DataDirLayout {
  root: string
  /** The agent's libp2p identity (Ed25519, protobuf), 0600; see src/mesh/identity.ts. */
  peerKey: string
  /** The level database: logs, votes, epochs, checkpoint index, manifests. */
  store: string
  /** The control API's Unix socket (when control is on a socket). */
  controlSocket: string
  /** The control API's bearer token (when control is on loopback TCP), 0600. */
  controlToken: string
  /** Instrumented (Asyncify) modules, by content hash; safe to delete. */
  wasmCache: string
  /** Checkpoint files of hosted workloads. */
  checkpoints: string
  /** Output of hosted workloads, for `understudy logs`. */
  logs: string
}

export interface PrepareDataDirOptions {
  /** The user that must own the directory; default the process's uid. */
  uid?: number
}

/** The paths inside `root`; touches nothing. */
export function dataDirLayout(root: string): DataDirLayout {
  return {
    root,
    peerKey: join(root, 'peer.key'),
    store: join(root, 'store'),
    controlSocket: join(root, 'control.sock'),
    controlToken: join(root, 'control.token'),
    wasmCache: join(root, 'cache', 'wasm'),
    checkpoints: join(root, 'checkpoints'),
    logs: join(root, 'logs'),
  }
}

/**
 * Creates the data directory and its subdirectories (0700) where missing, and checks that
 * every one of them, and any key or token file already there, is private to `uid`.
 */
export async function prepareDataDir(
  root: string,
  options: PrepareDataDirOptions = {},
): Promise<DataDirLayout> {
  const layout = dataDirLayout(root)
  const uid = options.uid ?? process.getuid?.()
  await ensureDir(root, true, uid)
  for (const dir of [layout.store, join(root, 'cache'), layout.wasmCache, layout.checkpoints, layout.logs]) {
    await ensureDir(dir, false, uid)
  }
  for (const file of [layout.peerKey, layout.controlToken]) await checkSecretFile(file, uid)
  return layout
}

async function ensureDir(dir: string, recursive: boolean, uid: number | undefined): Promise<void> {
  try {
    await mkdir(dir, { recursive, mode: 0o700 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new DataDirError(
        dir,
        `cannot create ${dir}: ${(err as Error).message}; create it as the user that runs the agent, ` +
          'or choose another --data-dir',
        { cause: err },
      )
    }
  }
  // stat, not lstat: the root may be a symlink (systemd's DynamicUser= links /var/lib/private/…).
  const info = await stat(dir)
  if (!info.isDirectory()) {
    throw new DataDirError(dir, `${dir} is not a directory; move it away or choose another --data-dir`)
  }
  if (uid == null) return // no uids on this platform
  if (info.uid !== uid) {
    throw new DataDirError(
      dir,
      `${dir} belongs to uid ${info.uid}, but the agent runs as uid ${uid}: run the agent as its owner, ` +
        `\`chown -R ${uid} ${dir}\`, or choose another --data-dir`,
    )
  }
  if ((info.mode & 0o002) !== 0) {
    throw new DataDirError(
      dir,
      `${dir} is writable by every user (mode ${(info.mode & 0o777).toString(8)}), who could replace the agent's ` +
        `keys and logs: run \`chmod 700 ${dir}\` if you trust what is in it, or choose another --data-dir`,
    )
  }
}

async function checkSecretFile(file: string, uid: number | undefined): Promise<void> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw new DataDirError(file, `cannot inspect ${file}: ${(err as Error).message}`, { cause: err })
  }
  if (!info.isFile()) throw new DataDirError(file, `${file} is not a regular file; move it away`)
  if (uid == null) return
  if (info.uid !== uid) {
    throw new DataDirError(file, `${file} belongs to uid ${info.uid}, but the agent runs as uid ${uid}`)
  }
  if ((info.mode & 0o077) !== 0) {
    throw new DataDirError(
      file,
      `${file} has mode ${(info.mode & 0o777).toString(8)}, readable by other users: run \`chmod 600 ${file}\`, ` +
        'and replace it if others may have copied it',
    )
  }
}
