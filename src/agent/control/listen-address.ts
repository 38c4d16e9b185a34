import { chmodSync, lstatSync, unlinkSync } from 'node:fs'
import { connect, isIP } from 'node:net'
import { ListenError } from '../../errors/index.ts'

/** True for names and addresses only this machine can reach: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (h === 'localhost') return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)
    return mapped?.[1]?.startsWith('127.') ?? false
  }
  return false
}

/**
 * Makes `path` free for a new socket: a stale socket left by a crashed agent is removed, a live one
 * (another agent answering) or any other file is refused.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean
  try {
    isSocket = lstatSync(path).isSocket()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw new ListenError(path, `cannot use ${path} for the control socket: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (!isSocket) {
    throw new ListenError(
      path,
      `${path} exists and is not a socket: move it away or choose another control.socket`,
    )
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect({ path })
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
  if (live) throw new ListenError(path, `another agent is already serving the control API on ${path}`)
  unlinkSync(path)
}

/**
 * Runs `listen` (which binds synchronously) under a umask that creates the socket as 0600, so no
 * other user can connect even for a moment; the umask is restored before anything else runs. Where
 * the umask cannot be changed (worker threads) the caller's chmod after binding still applies.
 */
export function listenPrivately(listen: () => void): void {
  let previous: number | undefined
  try {
    previous = process.umask(0o177)
  } catch {
    previous = undefined
  }
  try {
    listen()
  } finally {
    if (previous !== undefined) process.umask(previous)
  }
}

export function makePrivate(path: string): void {
  chmodSync(path, 0o600)
}
