/**
 * The WASI file and directory calls over the virtual disk. All of them are
 * deterministic given the disk and fd table, so none goes through the tape.
 * Errors are thrown as WasiError; the host's import boundary returns them.
 *
 * Semantics follow Linux as wasmtime and uvwasi expose it, with these choices:
 * a missing right gives EBADF (as POSIX does for a read on a write-only fd);
 * stdio cannot seek (ESPIPE); readdir lists '.', '..', then entries in the order
 * they were linked, with cookies that survive removals (see dir-listing.ts);
 * pwrite on an append-mode fd appends (as Linux does); directories report size 4096.
 */
import { FIRST_ENTRY_COOKIE } from './dir-listing.ts'
import type { FdEntry, FdTable } from './fd-table.ts'
import { MAX_FDS } from './fd-table.ts'
import type { GuestMemory } from './guest-memory.ts'
import { totalLength } from './guest-memory.ts'
import { resolvePath } from './path-resolver.ts'
import type { DirectoryNode, DiskNode, FileNode, VirtualDisk } from './virtual-disk.ts'
import {
  Advice,
  Errno,
  FDFLAGS_ALL,
  Fdflags,
  Filetype,
  Fstflags,
  Layout,
  Lookupflags,
  Oflags,
  RIGHTS_ALL,
  RIGHTS_DIRECTORY,
  RIGHTS_FILE,
  Rights,
  Whence,
} from './wasi-constants.ts'
import { WasiError } from './wasi-error.ts'

/** st_dev of every node: one disk, one device. */
const DEVICE = 1n
const DIRECTORY_SIZE = 4096n
const encoder = new TextEncoder()

export class WasiFs {
  readonly #disk: VirtualDisk
  readonly #fds: FdTable
  readonly #mem: GuestMemory

  constructor(disk: VirtualDisk, fds: FdTable, mem: GuestMemory) {
    this.#disk = disk
    this.#fds = fds
    this.#mem = mem
  }

  fdAdvise(fd: number, _offset: bigint, _len: bigint, advice: number): number {
    const entry = this.#fds.get(fd)
    if (advice > Advice.NOREUSE) throw new WasiError(Errno.INVAL)
    if (isStdio(entry)) throw new WasiError(Errno.SPIPE)
    return Errno.SUCCESS
  }

  fdAllocate(fd: number, offset: bigint, len: bigint): number {
    const entry = this.#fds.get(fd)
    if (isStdio(entry)) throw new WasiError(Errno.SPIPE)
    const file = this.#writableFile(entry)
    if (len === 0n) throw new WasiError(Errno.INVAL)
    const end = u64(offset) + u64(len)
    if (end > BigInt(this.#disk.limits.maxFileSize)) throw new WasiError(Errno.FBIG)
    if (Number(end) > file.size) this.#disk.resize(file, Number(end))
    return Errno.SUCCESS
  }

  fdClose(fd: number): number {
    this.#fds.close(fd)
    return Errno.SUCCESS
  }

  /** fd_sync and fd_datasync: the disk is memory, so there is nothing to flush. */
  fdSync(fd: number): number {
    if (isStdio(this.#fds.get(fd))) throw new WasiError(Errno.INVAL)
    return Errno.SUCCESS
  }

  fdFdstatGet(fd: number, ptr: number): number {
    const entry = this.#fds.get(fd)
    const mem = this.#mem
    mem.check(ptr, Layout.FDSTAT)
    mem.bytes.fill(0, ptr, ptr + Layout.FDSTAT)
    mem.setU8(ptr, entryFiletype(entry))
    mem.setU16(ptr + 2, entry.flags)
    mem.setU64(ptr + 8, entry.rightsBase)
    mem.setU64(ptr + 16, entry.rightsInheriting)
    return Errno.SUCCESS
  }

  fdFdstatSetFlags(fd: number, flags: number): number {
    const entry = this.#fds.get(fd)
    if ((flags & ~FDFLAGS_ALL) !== 0) throw new WasiError(Errno.INVAL)
    // As fcntl(F_SETFL) on Linux: the sync flags are accepted and ignored.
    entry.flags = flags & (Fdflags.APPEND | Fdflags.NONBLOCK)
    return Errno.SUCCESS
  }

  fdFdstatSetRights(fd: number, base: bigint, inheriting: bigint): number {
    const entry = this.#fds.get(fd)
    const b = u64(base)
    const i = u64(inheriting)
    if ((b & ~BigInt(entry.rightsBase)) !== 0n || (i & ~BigInt(entry.rightsInheriting)) !== 0n) {
      throw new WasiError(Errno.NOTCAPABLE)
    }
    entry.rightsBase = Number(b)
    entry.rightsInheriting = Number(i)
    return Errno.SUCCESS
  }

  fdFilestatGet(fd: number, ptr: number): number {
    this.#writeFilestat(ptr, this.#fds.get(fd).node)
    return Errno.SUCCESS
  }

  fdFilestatSetSize(fd: number, size: bigint): number {
    const entry = this.#fds.get(fd)
    if (entry.kind !== 'file') throw new WasiError(Errno.INVAL)
    if ((entry.rightsBase & (Rights.FD_WRITE | Rights.FD_FILESTAT_SET_SIZE)) === 0)
      throw new WasiError(Errno.INVAL)
    const n = u64(size)
    if (n > BigInt(this.#disk.limits.maxFileSize)) throw new WasiError(Errno.FBIG)
    this.#disk.resize(entry.node as FileNode, Number(n))
    return Errno.SUCCESS
  }

  fdFilestatSetTimes(fd: number, atim: bigint, mtim: bigint, flags: number): number {
    const entry = this.#fds.get(fd)
    if (entry.node === undefined) throw new WasiError(Errno.BADF)
    this.#setTimes(entry.node, atim, mtim, flags)
    return Errno.SUCCESS
  }

  fdPread(fd: number, iovsPtr: number, iovsLen: number, offset: bigint, retptr: number): number {
    const entry = this.#fds.get(fd)
    if (isStdio(entry)) throw new WasiError(Errno.SPIPE)
    const file = this.#readableFile(entry)
    const iovs = this.#mem.iovecs(iovsPtr, iovsLen)
    this.#mem.check(retptr, 4)
    const at = u64(offset)
    const data =
      at >= BigInt(file.size) ? new Uint8Array(0) : this.#disk.read(file, Number(at), totalLength(iovs))
    this.#mem.setU32(retptr, this.#mem.scatter(iovs, data))
    return Errno.SUCCESS
  }

  fdPwrite(fd: number, iovsPtr: number, iovsLen: number, offset: bigint, retptr: number): number {
    const entry = this.#fds.get(fd)
    if (isStdio(entry)) throw new WasiError(Errno.SPIPE)
    const file = this.#writableFile(entry)
    const iovs = this.#mem.iovecs(iovsPtr, iovsLen)
    this.#mem.check(retptr, 4)
    const at = this.#offsetFor(
      (entry.flags & Fdflags.APPEND) !== 0 ? BigInt(file.size) : u64(offset),
      totalLength(iovs),
    )
    this.#mem.setU32(retptr, this.#writeAt(file, at, iovs))
    return Errno.SUCCESS
  }

  /** fd_read on a file or directory (the host serves stdin itself). */
  fdRead(fd: number, iovsPtr: number, iovsLen: number, retptr: number): number {
    const entry = this.#fds.get(fd)
    const file = this.#readableFile(entry)
    const iovs = this.#mem.iovecs(iovsPtr, iovsLen)
    this.#mem.check(retptr, 4)
    const n = this.#mem.scatter(iovs, this.#disk.read(file, entry.offset, totalLength(iovs)))
    entry.offset += n
    this.#mem.setU32(retptr, n)
    return Errno.SUCCESS
  }

  /** fd_write on a file (the host serves stdout and stderr itself). */
  fdWrite(fd: number, iovsPtr: number, iovsLen: number, retptr: number): number {
    const entry = this.#fds.get(fd)
    const file = this.#writableFile(entry)
    const iovs = this.#mem.iovecs(iovsPtr, iovsLen)
    this.#mem.check(retptr, 4)
    if ((entry.flags & Fdflags.APPEND) !== 0) entry.offset = file.size
    const n = this.#writeAt(file, this.#offsetFor(BigInt(entry.offset), totalLength(iovs)), iovs)
    entry.offset += n
    this.#mem.setU32(retptr, n)
    return Errno.SUCCESS
  }

  fdPrestatGet(fd: number, ptr: number): number {
    const entry = this.#fds.get(fd)
    if (!entry.preopen) throw new WasiError(Errno.BADF)
    this.#mem.check(ptr, Layout.PRESTAT)
    this.#mem.setU32(ptr, 0) // tag PREOPENTYPE_DIR and padding
    this.#mem.setU32(ptr + 4, encoder.encode(entry.path).length)
    return Errno.SUCCESS
  }

  fdPrestatDirName(fd: number, ptr: number, len: number): number {
    const entry = this.#fds.get(fd)
    if (!entry.preopen) throw new WasiError(Errno.BADF)
    const name = encoder.encode(entry.path)
    if (len < name.length) throw new WasiError(Errno.NAMETOOLONG)
    this.#mem.write(ptr, name)
    return Errno.SUCCESS
  }

  fdReaddir(fd: number, buf: number, bufLen: number, cookie: bigint, retptr: number): number {
    const entry = this.#fds.get(fd)
    if (entry.kind !== 'directory') throw new WasiError(Errno.NOTDIR)
    const mem = this.#mem
    mem.check(buf, bufLen)
    mem.check(retptr, 4)
    const dir = entry.node as DirectoryNode
    const header = new Uint8Array(Layout.DIRENT)
    const view = new DataView(header.buffer)
    let used = 0
    for (const [name, next] of this.#listFrom(dir, u64(cookie))) {
      if (used >= bufLen) break
      const node = name === '.' ? dir : name === '..' ? dir.parent : dir.entries.get(name)!
      const nameBytes = encoder.encode(name)
      view.setBigUint64(0, BigInt(next), true)
      view.setBigUint64(8, BigInt(node.ino), true)
      view.setUint32(16, nameBytes.length, true)
      view.setUint32(20, filetypeOf(node), true)
      // The last entry may be cut short: bufused == buf_len tells the guest to read again from its cookie.
      const h = Math.min(Layout.DIRENT, bufLen - used)
      mem.bytes.set(header.subarray(0, h), buf + used)
      used += h
      const n = Math.min(nameBytes.length, bufLen - used)
      mem.bytes.set(nameBytes.subarray(0, n), buf + used)
      used += n
    }
    mem.setU32(retptr, used)
    return Errno.SUCCESS
  }

  fdRenumber(from: number, to: number): number {
    this.#fds.renumber(from, to)
    return Errno.SUCCESS
  }

  fdSeek(fd: number, delta: bigint, whence: number, retptr: number): number {
    const entry = this.#fds.get(fd)
    if (isStdio(entry)) throw new WasiError(Errno.SPIPE)
    if (entry.kind !== 'file') throw new WasiError(Errno.BADF)
    this.#mem.check(retptr, 8)
    let base: bigint
    if (whence === Whence.SET) base = 0n
    else if (whence === Whence.CUR) base = BigInt(entry.offset)
    else if (whence === Whence.END) base = BigInt((entry.node as FileNode).size)
    else throw new WasiError(Errno.INVAL)
    const next = base + BigInt.asIntN(64, delta)
    if (next < 0n || next > BigInt(Number.MAX_SAFE_INTEGER)) throw new WasiError(Errno.INVAL)
    entry.offset = Number(next)
    this.#mem.setU64(retptr, next)
    return Errno.SUCCESS
  }

  fdTell(fd: number, retptr: number): number {
    const entry = this.#fds.get(fd)
    if (isStdio(entry)) throw new WasiError(Errno.SPIPE)
    if (entry.kind !== 'file') throw new WasiError(Errno.BADF)
    this.#mem.setU64(retptr, entry.offset)
    return Errno.SUCCESS
  }

  pathCreateDirectory(fd: number, pathPtr: number, pathLen: number): number {
    const r = resolvePath(this.#dirOf(fd), this.#mem.string(pathPtr, pathLen), false)
    if (r.node !== undefined) throw new WasiError(Errno.EXIST)
    this.#disk.addDirectory(r.parent, r.name)
    return Errno.SUCCESS
  }

  pathFilestatGet(fd: number, flags: number, pathPtr: number, pathLen: number, ptr: number): number {
    const node = this.#lookup(fd, flags, pathPtr, pathLen)
    this.#writeFilestat(ptr, node)
    return Errno.SUCCESS
  }

  pathFilestatSetTimes(
    fd: number,
    flags: number,
    pathPtr: number,
    pathLen: number,
    atim: bigint,
    mtim: bigint,
    fstFlags: number,
  ): number {
    this.#setTimes(this.#lookup(fd, flags, pathPtr, pathLen), atim, mtim, fstFlags)
    return Errno.SUCCESS
  }

  pathLink(
    oldFd: number,
    oldFlags: number,
    oldPtr: number,
    oldLen: number,
    newFd: number,
    newPtr: number,
    newLen: number,
  ): number {
    const node = this.#lookup(oldFd, oldFlags, oldPtr, oldLen)
    const target = resolvePath(this.#dirOf(newFd), this.#mem.string(newPtr, newLen), false)
    if (target.node !== undefined) throw new WasiError(Errno.EXIST)
    this.#disk.addLink(target.parent, target.name, node)
    return Errno.SUCCESS
  }

  pathOpen(
    fd: number,
    dirflags: number,
    pathPtr: number,
    pathLen: number,
    oflags: number,
    rightsBase: bigint,
    rightsInheriting: bigint,
    fdflags: number,
    retptr: number,
  ): number {
    const dirEntry = this.#fds.get(fd)
    const dir = this.#dirOf(fd)
    const path = this.#mem.string(pathPtr, pathLen)
    this.#mem.check(retptr, 4)
    if ((fdflags & ~FDFLAGS_ALL) !== 0 || (oflags & ~0xf) !== 0) throw new WasiError(Errno.INVAL)
    if ((oflags & Oflags.CREAT) !== 0 && (oflags & Oflags.DIRECTORY) !== 0) throw new WasiError(Errno.INVAL)
    const base = Number(u64(rightsBase) & BigInt(RIGHTS_ALL)) & dirEntry.rightsInheriting
    const inheriting = Number(u64(rightsInheriting) & BigInt(RIGHTS_ALL)) & dirEntry.rightsInheriting
    const r = resolvePath(dir, path, (dirflags & Lookupflags.SYMLINK_FOLLOW) !== 0)
    let node = r.node
    if (node === undefined) {
      if ((oflags & Oflags.CREAT) === 0) throw new WasiError(Errno.NOENT)
      if (r.trailingSlash) throw new WasiError(Errno.ISDIR)
      if (this.#fds.size >= MAX_FDS) throw new WasiError(Errno.MFILE)
      node = this.#disk.addFile(r.parent, r.name)
    } else {
      if ((oflags & (Oflags.CREAT | Oflags.EXCL)) === (Oflags.CREAT | Oflags.EXCL))
        throw new WasiError(Errno.EXIST)
      if (node.type === 'symlink') throw new WasiError(Errno.LOOP)
      if ((oflags & Oflags.DIRECTORY) !== 0 && node.type !== 'directory') throw new WasiError(Errno.NOTDIR)
      if (
        node.type === 'directory' &&
        ((base & Rights.FD_WRITE) !== 0 || (oflags & (Oflags.TRUNC | Oflags.CREAT)) !== 0)
      ) {
        throw new WasiError(Errno.ISDIR)
      }
      if (node.type === 'file' && (oflags & Oflags.TRUNC) !== 0) this.#disk.resize(node, 0)
    }
    const isDir = node.type === 'directory'
    const newFd = this.#fds.add({
      kind: isDir ? 'directory' : 'file',
      node,
      offset: 0,
      flags: fdflags & (Fdflags.APPEND | Fdflags.NONBLOCK),
      rightsBase: base & (isDir ? RIGHTS_DIRECTORY : RIGHTS_FILE),
      rightsInheriting: inheriting,
      path: joinPath(dirEntry.path, path),
      preopen: false,
    })
    this.#mem.setU32(retptr, newFd)
    return Errno.SUCCESS
  }

  pathReadlink(
    fd: number,
    pathPtr: number,
    pathLen: number,
    buf: number,
    bufLen: number,
    retptr: number,
  ): number {
    const r = resolvePath(this.#dirOf(fd), this.#mem.string(pathPtr, pathLen), false)
    if (r.node === undefined) throw new WasiError(Errno.NOENT)
    if (r.node.type !== 'symlink') throw new WasiError(Errno.INVAL)
    this.#mem.check(buf, bufLen)
    this.#mem.check(retptr, 4)
    const target = encoder.encode(r.node.target)
    const n = Math.min(bufLen, target.length)
    this.#mem.write(buf, target.subarray(0, n))
    this.#mem.setU32(retptr, n)
    return Errno.SUCCESS
  }

  pathRemoveDirectory(fd: number, pathPtr: number, pathLen: number): number {
    const r = resolvePath(this.#dirOf(fd), this.#mem.string(pathPtr, pathLen), false)
    if (r.name === '.') throw new WasiError(Errno.INVAL)
    if (r.name === '..') throw new WasiError(Errno.NOTEMPTY)
    if (r.node === undefined) throw new WasiError(Errno.NOENT)
    this.#disk.removeDirectory(r.parent, r.name)
    return Errno.SUCCESS
  }

  pathRename(
    fd: number,
    oldPtr: number,
    oldLen: number,
    newFd: number,
    newPtr: number,
    newLen: number,
  ): number {
    const from = resolvePath(this.#dirOf(fd), this.#mem.string(oldPtr, oldLen), false)
    const to = resolvePath(this.#dirOf(newFd), this.#mem.string(newPtr, newLen), false)
    if (isDotName(from.name) || isDotName(to.name)) throw new WasiError(Errno.BUSY)
    if (from.node === undefined) throw new WasiError(Errno.NOENT)
    if (from.node.type !== 'directory' && (from.trailingSlash || to.trailingSlash))
      throw new WasiError(Errno.NOTDIR)
    this.#disk.rename(from.parent, from.name, to.parent, to.name)
    return Errno.SUCCESS
  }

  pathSymlink(oldPtr: number, oldLen: number, fd: number, newPtr: number, newLen: number): number {
    const target = this.#mem.string(oldPtr, oldLen)
    const r = resolvePath(this.#dirOf(fd), this.#mem.string(newPtr, newLen), false)
    if (r.node !== undefined) throw new WasiError(Errno.EXIST)
    if (r.trailingSlash) throw new WasiError(Errno.NOENT)
    this.#disk.addSymlink(r.parent, r.name, target)
    return Errno.SUCCESS
  }

  pathUnlinkFile(fd: number, pathPtr: number, pathLen: number): number {
    const r = resolvePath(this.#dirOf(fd), this.#mem.string(pathPtr, pathLen), false)
    if (r.node === undefined) throw new WasiError(Errno.NOENT)
    if (r.node.type === 'directory') throw new WasiError(Errno.ISDIR)
    this.#disk.unlink(r.parent, r.name)
    return Errno.SUCCESS
  }

  /** '.', '..', then the entries, from `cookie` on; a removed directory lists nothing (as on Linux). */
  *#listFrom(dir: DirectoryNode, cookie: bigint): Generator<[name: string, next: number]> {
    if (dir.nlink === 0 || cookie > BigInt(Number.MAX_SAFE_INTEGER)) return
    const c = Number(cookie)
    if (c === 0) yield ['.', 1]
    if (c <= 1) yield ['..', FIRST_ENTRY_COOKIE]
    yield* dir.listing.from(Math.max(c, FIRST_ENTRY_COOKIE))
  }

  #dirOf(fd: number): DirectoryNode {
    const entry = this.#fds.get(fd)
    if (entry.kind !== 'directory') throw new WasiError(Errno.NOTDIR)
    return entry.node as DirectoryNode
  }

  #lookup(fd: number, flags: number, pathPtr: number, pathLen: number): DiskNode {
    const follow = (flags & Lookupflags.SYMLINK_FOLLOW) !== 0
    const r = resolvePath(this.#dirOf(fd), this.#mem.string(pathPtr, pathLen), follow)
    if (r.node === undefined) throw new WasiError(Errno.NOENT)
    return r.node
  }

  #readableFile(entry: FdEntry): FileNode {
    if ((entry.rightsBase & Rights.FD_READ) === 0 || entry.kind !== 'file') throw new WasiError(Errno.BADF)
    return entry.node as FileNode
  }

  #writableFile(entry: FdEntry): FileNode {
    if ((entry.rightsBase & Rights.FD_WRITE) === 0 || entry.kind !== 'file') throw new WasiError(Errno.BADF)
    return entry.node as FileNode
  }

  /** A write position as a number, or EFBIG when the write would end past the file size limit. */
  #offsetFor(at: bigint, len: number): number {
    if (at + BigInt(len) > BigInt(this.#disk.limits.maxFileSize)) throw new WasiError(Errno.FBIG)
    return Number(at)
  }

  #writeAt(file: FileNode, at: number, iovs: readonly { ptr: number; len: number }[]): number {
    const mem = this.#mem
    if (iovs.length === 1) return this.#disk.write(file, at, mem.subarray(iovs[0]!.ptr, iovs[0]!.len))
    return this.#disk.write(file, at, mem.gather(iovs))
  }

  #setTimes(node: DiskNode, atim: bigint, mtim: bigint, flags: number): void {
    if (
      (flags & ~0xf) !== 0 ||
      ((flags & Fstflags.ATIM) !== 0 && (flags & Fstflags.ATIM_NOW) !== 0) ||
      ((flags & Fstflags.MTIM) !== 0 && (flags & Fstflags.MTIM_NOW) !== 0)
    ) {
      throw new WasiError(Errno.INVAL)
    }
    const now = this.#disk.now
    const a = (flags & Fstflags.ATIM_NOW) !== 0 ? now : (flags & Fstflags.ATIM) !== 0 ? u64(atim) : undefined
    const m = (flags & Fstflags.MTIM_NOW) !== 0 ? now : (flags & Fstflags.MTIM) !== 0 ? u64(mtim) : undefined
    this.#disk.setTimes(node, a, m)
  }

  #writeFilestat(ptr: number, node: DiskNode | undefined): void {
    const mem = this.#mem
    mem.check(ptr, Layout.FILESTAT)
    mem.bytes.fill(0, ptr, ptr + Layout.FILESTAT)
    if (node === undefined) {
      mem.setU8(ptr + 16, Filetype.CHARACTER_DEVICE)
      return
    }
    const v = mem.view
    v.setBigUint64(ptr, DEVICE, true)
    v.setBigUint64(ptr + 8, BigInt(node.ino), true)
    v.setUint8(ptr + 16, filetypeOf(node))
    v.setBigUint64(ptr + 24, BigInt(node.nlink), true)
    v.setBigUint64(ptr + 32, sizeOf(node), true)
    v.setBigUint64(ptr + 40, node.atim, true)
    v.setBigUint64(ptr + 48, node.mtim, true)
    v.setBigUint64(ptr + 56, node.ctim, true)
  }
}

function u64(v: bigint): bigint {
  return BigInt.asUintN(64, v)
}

function isStdio(entry: FdEntry): boolean {
  return entry.kind === 'stdin' || entry.kind === 'stdout' || entry.kind === 'stderr'
}

function isDotName(name: string): boolean {
  return name === '.' || name === '..'
}

export function entryFiletype(entry: FdEntry): number {
  if (entry.kind === 'file') return Filetype.REGULAR_FILE
  if (entry.kind === 'directory') return Filetype.DIRECTORY
  return Filetype.CHARACTER_DEVICE
}

function filetypeOf(node: DiskNode): number {
  if (node.type === 'file') return Filetype.REGULAR_FILE
  if (node.type === 'directory') return Filetype.DIRECTORY
  return Filetype.SYMBOLIC_LINK
}

function sizeOf(node: DiskNode): bigint {
  if (node.type === 'file') return BigInt(node.size)
  if (node.type === 'directory') return DIRECTORY_SIZE
  return BigInt(encoder.encode(node.target).length)
}

function joinPath(dir: string, path: string): string {
  if (dir === '' || dir === '.') return path
  return dir.endsWith('/') ? dir + path : `${dir}/${path}`
}
