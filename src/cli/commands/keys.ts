/**
 * `understudy keys new|show`: a user's signing key, the Ed25519 kind libp2p uses. The file
 * holds libp2p's protobuf encoding (like the agent's peer.key), mode 0600; the user id is
 * the key's peer id, which hosts list in their policies and manifests name as owner.
 */
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { Command } from 'commander'
import { UserKeyError, UserKeyFileError } from '../../errors/index.ts'
import { decodeUserKey, encodeUserKey, generateUserKey, userIdOf } from '../../policy/index.ts'

/** Where `keys` and `manifest` write; tests and embedders pass their own. */
export interface CliIo {
  stdout: { write(text: string): unknown }
  stderr: { write(text: string): unknown }
  env: Readonly<Record<string, string | undefined>>
  homedir: () => string
}

/** Overrides the default key file (`~/.config/understudy/user.key`). */
export const USER_KEY_ENV = 'UNDERSTUDY_USER_KEY'

export function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, homedir }
}

/** `$UNDERSTUDY_USER_KEY`, else `~/.config/understudy/user.key`; absolute. */
export function defaultUserKeyPath(io: Pick<CliIo, 'env' | 'homedir'>): string {
  const fromEnv = io.env[USER_KEY_ENV]
  return resolve(
    fromEnv != null && fromEnv !== '' ? fromEnv : join(io.homedir(), '.config', 'understudy', 'user.key'),
  )
}

/** The `keys` command with `new` and `show`. */
export function keysCommand(io: CliIo = defaultIo()): Command {
  const keys = new Command('keys')
    .description("your user key: it signs your workloads' manifests; hosts admit you by its user id")
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')

  keys
    .command('new')
    .description('create a user key and print its user id')
    .option('--out <file>', `where to write it (default $${USER_KEY_ENV} or ~/.config/understudy/user.key)`)
    .option('--force', 'replace an existing key (its user id stops owning your workloads)')
    .action(async (flags: { out?: string; force?: boolean }) => {
      const path = flags.out != null ? resolve(flags.out) : defaultUserKeyPath(io)
      const key = await generateUserKey()
      await writeUserKeyFile(path, key, { force: flags.force === true })
      io.stderr.write(`understudy: wrote a new user key to ${path} (mode 0600); keep it private\n`)
      io.stdout.write(`${userIdOf(key)}\n`)
    })

  keys
    .command('show')
    .description('print the user id and public key of a user key')
    .option('--key <file>', `the key file (default $${USER_KEY_ENV} or ~/.config/understudy/user.key)`)
    .action(async (flags: { key?: string }) => {
      const path = flags.key != null ? resolve(flags.key) : defaultUserKeyPath(io)
      const key = await readUserKeyFile(path)
      const publicKey = Buffer.from(publicKeyToProtobuf(key.publicKey)).toString('base64')
      io.stdout.write(`user id     ${userIdOf(key)}\npublic key  ${publicKey}\n`)
    })

  return keys
}

/** Reads a user key; every failure is a UserKeyFileError naming the file and what to do. */
export async function readUserKeyFile(path: string): Promise<PrivateKey> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') {
      throw new UserKeyFileError(
        path,
        `no user key at ${path}: create one with \`understudy keys new\`, or point --key or $${USER_KEY_ENV} at yours`,
        { cause: err },
      )
    }
    throw new UserKeyFileError(path, `cannot inspect the user key ${path}: ${err.message}`, { cause: err })
  })
  if (!info.isFile())
    throw new UserKeyFileError(path, `the user key ${path} is not a regular file; fix the path`)
  // A key others can read lets them sign manifests as you.
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8)
    throw new UserKeyFileError(
      path,
      `the user key ${path} has mode ${mode}, readable by other users: run \`chmod 600 ${path}\`, and if ` +
        'others may have copied it, make a new key with `understudy keys new --force`',
    )
  }
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new UserKeyFileError(
      path,
      `cannot read the user key ${path}: ${(err as Error).message}; it must belong to you`,
      { cause: err },
    )
  }
  try {
    return decodeUserKey(bytes)
  } catch (err) {
    if (!(err instanceof UserKeyError)) throw err
    throw new UserKeyFileError(
      path,
      `${path} is not a usable user key (${err.message}): restore it from a backup, or make a new one with ` +
        '`understudy keys new --force` (your user id will change)',
      { cause: err },
    )
  }
}

/**
 * Writes a key atomically: a 0600 temp file, fsynced, then linked into place (refusing an
 * existing file) or, with `force`, renamed over it. The directory is created 0700.
 */
export async function writeUserKeyFile(
  path: string,
  key: PrivateKey,
  options: { force: boolean },
): Promise<void> {
  const dir = dirname(path)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new UserKeyFileError(path, `cannot create the directory ${dir}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
    try {
      await handle.writeFile(encodeUserKey(key))
      await handle.sync()
    } finally {
      await handle.close()
    }
    if (options.force) await rename(tmp, path)
    else await link(tmp, path)
    await syncDirectory(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UserKeyFileError(
        path,
        `${path} already holds a key; pass --force to replace it (workloads signed with the old key stay ` +
          'owned by the old user id), or choose another file with --out',
      )
    }
    throw new UserKeyFileError(path, `cannot write the user key ${path}: ${(err as Error).message}`, {
      cause: err,
    })
  } finally {
    await unlink(tmp).catch(() => {}) // gone already after a rename
  }
}

/** Makes the new directory entry durable, so a crash does not lose the key just made. */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return
  const handle = await open(dir, constants.O_RDONLY)
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
