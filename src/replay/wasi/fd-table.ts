/**
 * The guest's file descriptors. New descriptors take the lowest free number,
 * as POSIX does. Entries that refer to a disk node keep it alive (an unlinked
 * file stays readable while open).
 */
import type { DirectoryNode, FileNode, VirtualDisk } from './virtual-disk.ts'
import { Errno } from './wasi-constants.ts'
import { WasiError } from './wasi-error.ts'

export type FdKind = 'stdin' | 'stdout' | 'stderr' | 'file' | 'directory'

export interface FdEntry {
  kind: FdKind
  /** The file or directory (undefined for stdio). */
  node: FileNode | DirectoryNode | undefined
  /** Byte offset of a file; unused otherwise. */
  offset: number
  /** fdflags (APPEND, NONBLOCK). */
  flags: number
  rightsBase: number
  rightsInheriting: number
  /** The path it was opened by, for diagnostics; a preopen's guest path. */
  path: string
  preopen: boolean
}

/** Most descriptors open at once (more: EMFILE), so a guest cannot exhaust host memory this way. */
export const MAX_FDS = 4096

export class FdTable {
  readonly #disk: VirtualDisk
  readonly #fds = new Map<number, FdEntry>()

  constructor(disk: VirtualDisk) {
    this.#disk = disk
  }

  get size(): number {
    return this.#fds.size
  }

  /** The entry, or EBADF. */
  get(fd: number): FdEntry {
    const entry = this.#fds.get(fd)
    if (entry === undefined) throw new WasiError(Errno.BADF)
    return entry
  }

  find(fd: number): FdEntry | undefined {
    return this.#fds.get(fd)
  }

  /** Adds at the lowest free number. */
  add(entry: FdEntry): number {
    if (this.#fds.size >= MAX_FDS) throw new WasiError(Errno.MFILE)
    let fd = 0
    while (this.#fds.has(fd)) fd++
    this.put(fd, entry)
    return fd
  }

  /** Places an entry at a number that must be free (restoring a snapshot, renumbering). */
  put(fd: number, entry: FdEntry): void {
    if (this.#fds.has(fd)) throw new Error(`fd ${fd} is already in use`)
    if (entry.node !== undefined) this.#disk.retain(entry.node)
    this.#fds.set(fd, entry)
  }

  close(fd: number): void {
    const entry = this.get(fd)
    this.#fds.delete(fd)
    if (entry.node !== undefined) this.#disk.release(entry.node)
  }

  /** fd_renumber: `to` must be open; it is closed and `from` takes its number. */
  renumber(from: number, to: number): void {
    const entry = this.get(from)
    this.get(to)
    if (from === to) return
    this.close(to)
    this.#fds.delete(from)
    this.#fds.set(to, entry)
  }

  /** Entries in descriptor order. */
  sorted(): [number, FdEntry][] {
    return [...this.#fds.entries()].sort((a, b) => a[0] - b[0])
  }
}
