/**
 * The agent's persistent libp2p identity: an Ed25519 private key kept at
 * `<dataDir>/peer.key` (protobuf, as @libp2p/crypto marshals it), mode 0600, so
 * the PeerId survives restarts. The key is created atomically and never clobbered.
 */
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { IdentityError } from './errors.ts'

export interface Identity {
  privateKey: PrivateKey
  peerId: PeerId
  /** The key file that holds it. */
  keyPath: string
  /** True when this call generated the key (first start). */
  created: boolean
}

export interface LoadIdentityOptions {
  /** File name inside the data directory. */
  fileName?: string
}

export const KEY_FILE_NAME = 'peer.key'

/** Loads the agent's key from `dataDir`, creating it (and the directory, mode 0700) on first start. */
export async function loadOrCreateIdentity(
  dataDir: string,
  options: LoadIdentityOptions = {},
): Promise<Identity> {
  const keyPath = join(dataDir, options.fileName ?? KEY_FILE_NAME)
  const existing = await readKeyFile(keyPath)
  if (existing != null) return { ...existing, keyPath, created: false }

  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const privateKey = await generateKeyPair('Ed25519')
  const won = await writeKeyFileOnce(keyPath, privateKeyToProtobuf(privateKey))
  if (!won) {
    // Another process created it first: use theirs, so both agree on one PeerId.
    const theirs = await readKeyFile(keyPath)
    if (theirs == null) throw new IdentityError(keyPath, `key file ${keyPath} vanished while it was created`)
    return { ...theirs, keyPath, created: false }
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), keyPath, created: true }
}

/** Reads and checks the key file; undefined when it does not exist. */
async function readKeyFile(keyPath: string): Promise<{ privateKey: PrivateKey; peerId: PeerId } | undefined> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(keyPath)
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined
    throw new IdentityError(keyPath, `cannot inspect key file ${keyPath}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (!info.isFile()) {
    throw new IdentityError(
      keyPath,
      `key file ${keyPath} is not a regular file; move it away or fix the path`,
    )
  }
  // Group or world access to the key lets another user impersonate this agent.
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8)
    throw new IdentityError(
      keyPath,
      `key file ${keyPath} has mode ${mode}, readable by other users; run \`chmod 600 ${keyPath}\` ` +
        'and, if others may have copied it, delete it to get a new identity',
    )
  }

  let bytes: Uint8Array
  try {
    bytes = await readFile(keyPath)
  } catch (err) {
    throw new IdentityError(
      keyPath,
      `cannot read key file ${keyPath}: ${(err as Error).message}; it must belong to the user running the agent`,
      { cause: err },
    )
  }

  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new IdentityError(
      keyPath,
      `key file ${keyPath} is corrupt (${(err as Error).message}); restore it from a backup, or move it ` +
        'away to create a new identity (the agent will get a new PeerId)',
      { cause: err },
    )
  }
  if (privateKey.type !== 'Ed25519') {
    throw new IdentityError(
      keyPath,
      `key file ${keyPath} holds a ${privateKey.type} key; understudy agents use Ed25519. Move it away to create one`,
    )
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey) }
}

/** Writes a temp file (0600, fsynced), then hard-links it into place: false if the target already exists. */
async function writeKeyFileOnce(keyPath: string, bytes: Uint8Array): Promise<boolean> {
  const tmpPath = `${keyPath}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  const handle = await open(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
  try {
    await handle.writeFile(bytes)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await link(tmpPath, keyPath)
    await syncDirectory(keyPath)
    return true
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false
    throw new IdentityError(keyPath, `cannot create key file ${keyPath}: ${(err as Error).message}`, {
      cause: err,
    })
  } finally {
    await unlink(tmpPath)
  }
}

/** Makes the new directory entry durable, so a crash does not lose the identity just created. */
async function syncDirectory(filePath: string): Promise<void> {
  if (process.platform === 'win32') return
  const dir = await open(join(filePath, '..'), constants.O_RDONLY)
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code
}
