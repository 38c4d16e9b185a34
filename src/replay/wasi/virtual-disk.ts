/**
 * An in-memory POSIX-like file tree: the guest's disk, part of the VM's state.
 *
 * Inodes are numbered from 1 (the root) in creation order and never reused, so
 * two replicas that apply the same operations hold byte-identical disks.
 * Timestamps come from `now`, which the WASI host sets from the guest's last
 * observed realtime clock value (0 before any); seeded entries get 0. Access
 * times are only changed explicitly (as with `noatime`).
 */
import { createHash } from 'node:crypto'
import { ByteReader, ByteWriter } from './byte-codec.ts'
import { DirListing } from './dir-listing.ts'
import { exportToHostDir, seedFromHostDir } from './host-dir.ts'
import { compareNames } from './name-order.ts'
import { Errno } from './wasi-constants.ts'
import { WasiError } from './wasi-error.ts'

export interface DiskLimits {
  /** Largest size of one file in bytes (writes beyond: EFBIG). */
  maxFileSize: number
  /** Sum of all file sizes in bytes (growth beyond: ENOSPC). */
  maxTotalBytes: number
}

export interface DiskOptions {
  limits?: Partial<DiskLimits>
}

/** An entry of the seed directory that was not copied onto the disk. */
export interface SkippedEntry {
  /** Path relative to the seed directory. */
  path: string
  reason: string
}

interface NodeBase {
  readonly ino: number
  /** Hard links to this inode (directories: 2 + subdirectories; 0 once removed). */
  nlink: number
  atim: bigint
  mtim: bigint
  ctim: bigint
  /** Open file descriptors (host state, not serialized: the fd table restores it). */
  opens: number
}

export interface FileNode extends NodeBase {
  readonly type: 'file'
  /** Capacity buffer; bytes past `size` are always zero. */
  data: Uint8Array
  size: number
}

export interface DirectoryNode extends NodeBase {
  readonly type: 'directory'
  readonly entries: Map<string, DiskNode>
  /** The directory holding this one (the root is its own parent). */
  parent: DirectoryNode
  /** readdir order and cookies. */
  listing: DirListing
  /** Entry names in UTF-8 byte order, cached until the next change. */
  sorted: string[] | undefined
}

export interface SymlinkNode extends NodeBase {
  readonly type: 'symlink'
  readonly target: string
}

/** Nodes are owned by their disk: read them freely, change them only through VirtualDisk. */
export type DiskNode = FileNode | DirectoryNode | SymlinkNode

export const DEFAULT_DISK_LIMITS: DiskLimits = {
  maxFileSize: 1 << 30,
  maxTotalBytes: 2 ** 32,
}

const MAGIC = 'USVD'
const VERSION = 2
const TYPE_CODE = { file: 1, directory: 2, symlink: 3 } as const

export class VirtualDisk {
  readonly limits: DiskLimits

  readonly #nodes = new Map<number, DiskNode>()
  #root: DirectoryNode
  #skipped: readonly SkippedEntry[] = []
  #nextIno = 1
  #now = 0n
  #totalBytes = 0

  constructor(options: DiskOptions = {}) {
    this.limits = { ...DEFAULT_DISK_LIMITS, ...options.limits }
    this.#root = this.#newDirectory(undefined)
  }

  get root(): DirectoryNode {
    return this.#root
  }

  /** Seed entries that fromHostDir left out (special files, names that are not UTF-8). */
  get skipped(): readonly SkippedEntry[] {
    return this.#skipped
  }

  /** Copies a host directory (regular files, directories, symlinks; hard links kept). Never writes to it. */
  static async fromHostDir(hostDir: string, options: DiskOptions = {}): Promise<VirtualDisk> {
    const disk = new VirtualDisk(options)
    disk.#skipped = await seedFromHostDir(disk, hostDir)
    return disk
  }

  /** Copies a host directory into a new directory `path` of this disk (one disk can hold several preopens). */
  async seedDirectory(path: string, hostDir: string): Promise<DirectoryNode> {
    const dir = this.makeDirectory(path)
    this.#skipped = [...this.#skipped, ...(await seedFromHostDir(this, hostDir, dir))]
    return dir
  }

  /** The timestamp given to changes from now on (ns since the epoch, as the guest last saw it). */
  get now(): bigint {
    return this.#now
  }

  set now(ns: bigint) {
    this.#now = ns
  }

  get totalBytes(): number {
    return this.#totalBytes
  }

  get nodeCount(): number {
    return this.#nodes.size
  }

  node(ino: number): DiskNode | undefined {
    return this.#nodes.get(ino)
  }

  /** Looks up an absolute '/'-separated path without following symlinks. */
  lookup(path: string): DiskNode | undefined {
    let node: DiskNode = this.root
    for (const name of path.split('/')) {
      if (name === '' || name === '.') continue
      if (node.type !== 'directory') return undefined
      const next: DiskNode | undefined = name === '..' ? node.parent : node.entries.get(name)
      if (next === undefined) return undefined
      node = next
    }
    return node
  }

  /** Creates (or replaces the contents of) a file; its directory must exist. */
  writeFile(path: string, data: Uint8Array): FileNode {
    const { dir, name } = this.#parentOf(path)
    const existing = dir.entries.get(name)
    let file: FileNode
    if (existing === undefined) file = this.addFile(dir, name)
    else if (existing.type === 'file') file = existing
    else throw new WasiError(existing.type === 'directory' ? Errno.ISDIR : Errno.EXIST, path)
    this.resize(file, 0)
    this.write(file, 0, data)
    return file
  }

  readFile(path: string): Uint8Array {
    const node = this.lookup(path)
    if (node === undefined) throw new WasiError(Errno.NOENT, path)
    if (node.type !== 'file') throw new WasiError(Errno.ISDIR, path)
    return node.data.slice(0, node.size)
  }

  /** Creates a directory and any missing parents (like mkdir -p). */
  makeDirectory(path: string): DirectoryNode {
    let dir = this.root
    for (const name of path.split('/')) {
      if (name === '' || name === '.') continue
      const next = dir.entries.get(name)
      if (next === undefined) dir = this.addDirectory(dir, name)
      else if (next.type === 'directory') dir = next
      else throw new WasiError(Errno.NOTDIR, path)
    }
    return dir
  }

  /** Entry names of a directory in UTF-8 byte order. */
  sortedNames(dir: DirectoryNode): readonly string[] {
    dir.sorted ??= [...dir.entries.keys()].sort(compareNames)
    return dir.sorted
  }

  addFile(dir: DirectoryNode, name: string): FileNode {
    this.#checkNewEntry(dir, name)
    const file: FileNode = {
      type: 'file',
      ino: this.#allocIno(),
      nlink: 1,
      atim: this.#now,
      mtim: this.#now,
      ctim: this.#now,
      opens: 0,
      data: new Uint8Array(0),
      size: 0,
    }
    this.#nodes.set(file.ino, file)
    this.#link(dir, name, file)
    return file
  }

  addDirectory(dir: DirectoryNode, name: string): DirectoryNode {
    this.#checkNewEntry(dir, name)
    const child = this.#newDirectory(dir)
    this.#link(dir, name, child)
    dir.nlink++
    return child
  }

  addSymlink(dir: DirectoryNode, name: string, target: string): SymlinkNode {
    this.#checkNewEntry(dir, name)
    const link: SymlinkNode = {
      type: 'symlink',
      ino: this.#allocIno(),
      nlink: 1,
      atim: this.#now,
      mtim: this.#now,
      ctim: this.#now,
      opens: 0,
      target,
    }
    this.#nodes.set(link.ino, link)
    this.#link(dir, name, link)
    return link
  }

  /** A new hard link to an existing file or symlink (directories: EPERM). */
  addLink(dir: DirectoryNode, name: string, node: DiskNode): void {
    if (node.type === 'directory') throw new WasiError(Errno.PERM, name)
    if (node.nlink === 0) throw new WasiError(Errno.NOENT, name)
    this.#checkNewEntry(dir, name)
    this.#link(dir, name, node)
    node.nlink++
    node.ctim = this.#now
  }

  /** Removes a file or symlink entry (directories: EISDIR). */
  unlink(dir: DirectoryNode, name: string): void {
    const node = dir.entries.get(name)
    if (node === undefined) throw new WasiError(Errno.NOENT, name)
    if (node.type === 'directory') throw new WasiError(Errno.ISDIR, name)
    this.#unlinkEntry(dir, name)
    node.nlink--
    node.ctim = this.#now
    this.#freeIfUnused(node)
  }

  /** Removes an empty directory. */
  removeDirectory(dir: DirectoryNode, name: string): void {
    const node = dir.entries.get(name)
    if (node === undefined) throw new WasiError(Errno.NOENT, name)
    if (node.type !== 'directory') throw new WasiError(Errno.NOTDIR, name)
    if (node.entries.size > 0) throw new WasiError(Errno.NOTEMPTY, name)
    this.#unlinkEntry(dir, name)
    dir.nlink--
    node.nlink = 0
    node.parent = node
    node.ctim = this.#now
    this.#freeIfUnused(node)
  }

  /** POSIX rename(2): replaces a compatible target, refuses to move a directory into itself. */
  rename(fromDir: DirectoryNode, fromName: string, toDir: DirectoryNode, toName: string): void {
    const node = fromDir.entries.get(fromName)
    if (node === undefined) throw new WasiError(Errno.NOENT, fromName)
    if (toDir.nlink === 0) throw new WasiError(Errno.NOENT, toName)
    const target = toDir.entries.get(toName)
    if (target === node) return
    if (node.type === 'directory') {
      for (let d = toDir; ; d = d.parent) {
        if (d === node) throw new WasiError(Errno.INVAL, toName)
        if (d === d.parent) break
      }
      if (target !== undefined && target.type !== 'directory') throw new WasiError(Errno.NOTDIR, toName)
    } else if (target?.type === 'directory') {
      throw new WasiError(Errno.ISDIR, toName)
    }
    if (target !== undefined) {
      if (target.type === 'directory') this.removeDirectory(toDir, toName)
      else this.unlink(toDir, toName)
    }
    this.#unlinkEntry(fromDir, fromName)
    this.#link(toDir, toName, node)
    if (node.type === 'directory' && fromDir !== toDir) {
      node.parent = toDir
      fromDir.nlink--
      toDir.nlink++
    }
    node.ctim = this.#now
  }

  /** A view of up to `length` bytes at `offset` (empty past the end). */
  read(file: FileNode, offset: number, length: number): Uint8Array {
    if (offset >= file.size) return file.data.subarray(0, 0)
    return file.data.subarray(offset, Math.min(file.size, offset + length))
  }

  /** Writes at `offset`, filling any gap past the old end with zeros. */
  write(file: FileNode, offset: number, bytes: Uint8Array): number {
    if (bytes.length === 0) return 0
    const end = offset + bytes.length
    if (end > file.size) this.#grow(file, end)
    file.data.set(bytes, offset)
    file.mtim = this.#now
    file.ctim = this.#now
    return bytes.length
  }

  /** ftruncate(2): shrinks or zero-extends. */
  resize(file: FileNode, size: number): void {
    if (size === file.size) return
    if (size > file.size) {
      this.#grow(file, size)
    } else {
      file.data.fill(0, size, file.size)
      this.#totalBytes -= file.size - size
      file.size = size
    }
    file.mtim = this.#now
    file.ctim = this.#now
  }

  /** Sets access and/or modification time; the change time becomes `now`. */
  setTimes(node: DiskNode, atim: bigint | undefined, mtim: bigint | undefined): void {
    if (atim !== undefined) node.atim = atim
    if (mtim !== undefined) node.mtim = mtim
    node.ctim = this.#now
  }

  /** A file descriptor now refers to `node` (an unlinked node lives on until released). */
  retain(node: DiskNode): void {
    node.opens++
  }

  release(node: DiskNode): void {
    node.opens--
    this.#freeIfUnused(node)
  }

  /** Deterministic encoding: inodes in number order, directory entries in readdir order with their cookies. */
  serialize(): Uint8Array {
    const w = new ByteWriter()
    w.raw(new TextEncoder().encode(MAGIC)).u8(VERSION)
    w.u64(this.limits.maxFileSize).u64(this.limits.maxTotalBytes)
    w.u64(this.#now).u64(this.#nextIno).u64(this.root.ino)
    const inos = [...this.#nodes.keys()].sort((a, b) => a - b)
    w.u32(inos.length)
    for (const ino of inos) {
      const node = this.#nodes.get(ino)!
      w.u64(ino).u8(TYPE_CODE[node.type]).u64(node.nlink).u64(node.atim).u64(node.mtim).u64(node.ctim)
      if (node.type === 'file') {
        w.u64(node.size).raw(node.data.subarray(0, node.size))
      } else if (node.type === 'symlink') {
        w.string(node.target)
      } else {
        w.u64(node.parent.ino).u64(node.listing.nextCookie)
        const entries = node.listing.entries()
        w.u32(entries.length)
        for (const [name, cookie] of entries) w.string(name).u64(cookie).u64(node.entries.get(name)!.ino)
      }
    }
    return w.finish()
  }

  static deserialize(bytes: Uint8Array): VirtualDisk {
    const r: ByteReader = new ByteReader(bytes, 'virtual disk')
    r.expectMagic(MAGIC, VERSION)
    const limits = { maxFileSize: r.safe(), maxTotalBytes: r.safe() }
    const now = r.u64()
    const nextIno = r.safe()
    const rootIno = r.safe()
    const count = r.u32()
    const disk = new VirtualDisk({ limits })
    disk.#nodes.clear()
    const dirLinks: { dir: DirectoryNode; parentIno: number; entries: [string, number, number][] }[] = []
    let prevIno = 0
    for (let i = 0; i < count; i++) {
      const ino = r.safe()
      if (ino <= prevIno || ino >= nextIno) r.fail(`inode ${ino} out of order or range`)
      prevIno = ino
      const code = r.u8()
      const nlink = r.safe()
      const times = { atim: r.u64(), mtim: r.u64(), ctim: r.u64() }
      let node: DiskNode
      if (code === TYPE_CODE.file) {
        const size = r.safe()
        const data = r.raw(size)
        node = { type: 'file', ino, nlink, ...times, opens: 0, data, size }
        disk.#totalBytes += size
      } else if (code === TYPE_CODE.symlink) {
        node = { type: 'symlink', ino, nlink, ...times, opens: 0, target: r.string() }
      } else if (code === TYPE_CODE.directory) {
        const parentIno = r.safe()
        const nextCookie = r.safe()
        const n = r.u32()
        const entries: [string, number, number][] = []
        for (let j = 0; j < n; j++) entries.push([r.string(), r.safe(), r.safe()])
        let listing: DirListing
        try {
          listing = DirListing.restore(
            entries.map(([name, cookie]) => [name, cookie]),
            nextCookie,
          )
        } catch (err) {
          r.fail(`directory ${ino}: ${(err as Error).message}`)
        }
        const dir: DirectoryNode = {
          type: 'directory',
          ino,
          nlink,
          ...times,
          opens: 0,
          entries: new Map(),
          listing,
          sorted: undefined,
          parent: undefined as unknown as DirectoryNode,
        }
        dir.parent = dir
        dirLinks.push({ dir, parentIno, entries })
        node = dir
      } else {
        r.fail(`inode ${ino} has unknown type ${code}`)
      }
      disk.#nodes.set(ino, node)
    }
    r.end()
    const root = disk.#nodes.get(rootIno)
    if (root?.type !== 'directory') r.fail(`root inode ${rootIno} is not a directory`)
    const parentOf = new Map(dirLinks.map((d) => [d.dir.ino, d.parentIno]))
    const linked = new Map<number, number>()
    for (const { dir, parentIno, entries } of dirLinks) {
      const parent = disk.#nodes.get(parentIno)
      if (parent?.type !== 'directory') r.fail(`directory ${dir.ino} has no parent directory ${parentIno}`)
      dir.parent = parent
      for (const [name, , ino] of entries) {
        if (dir.entries.has(name)) r.fail(`directory ${dir.ino} names ${name} twice`)
        const child = disk.#nodes.get(ino)
        if (child === undefined) r.fail(`directory ${dir.ino} names missing inode ${ino}`)
        if (
          child.type === 'directory' &&
          (ino === rootIno || linked.has(ino) || parentOf.get(ino) !== dir.ino)
        ) {
          r.fail(`directory ${ino} is linked from the wrong place`)
        }
        dir.entries.set(name, child)
        linked.set(ino, (linked.get(ino) ?? 0) + 1)
      }
    }
    for (const node of disk.#nodes.values()) {
      const links = linked.get(node.ino) ?? 0
      const expected =
        node.type !== 'directory'
          ? links
          : node.nlink === 0
            ? 0
            : 2 + [...node.entries.values()].filter((c) => c.type === 'directory').length
      if (node.nlink !== expected)
        r.fail(`inode ${node.ino} has nlink ${node.nlink}, its links say ${expected}`)
    }
    disk.#root = root
    disk.#nextIno = nextIno
    disk.#now = now
    return disk
  }

  /** SHA-256 of serialize(). */
  digest(): Uint8Array {
    return new Uint8Array(createHash('sha256').update(this.serialize()).digest())
  }

  /** Writes the tree (not unlinked-but-open files) into `hostDir`, which must be absent or empty. */
  async exportTo(hostDir: string): Promise<void> {
    await exportToHostDir(this, hostDir)
  }

  #newDirectory(parent: DirectoryNode | undefined): DirectoryNode {
    const dir: DirectoryNode = {
      type: 'directory',
      ino: this.#allocIno(),
      nlink: 2,
      atim: this.#now,
      mtim: this.#now,
      ctim: this.#now,
      opens: 0,
      entries: new Map(),
      listing: new DirListing(),
      sorted: undefined,
      parent: undefined as unknown as DirectoryNode,
    }
    dir.parent = parent ?? dir
    this.#nodes.set(dir.ino, dir)
    return dir
  }

  #allocIno(): number {
    return this.#nextIno++
  }

  #checkNewEntry(dir: DirectoryNode, name: string): void {
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw new WasiError(Errno.INVAL, name)
    }
    if (dir.nlink === 0) throw new WasiError(Errno.NOENT, name)
    if (dir.entries.has(name)) throw new WasiError(Errno.EXIST, name)
  }

  #link(dir: DirectoryNode, name: string, node: DiskNode): void {
    dir.entries.set(name, node)
    dir.listing.add(name)
    dir.sorted = undefined
    dir.mtim = this.#now
    dir.ctim = this.#now
  }

  #unlinkEntry(dir: DirectoryNode, name: string): void {
    dir.entries.delete(name)
    dir.listing.remove(name)
    dir.sorted = undefined
    dir.mtim = this.#now
    dir.ctim = this.#now
  }

  #freeIfUnused(node: DiskNode): void {
    if (node.nlink > 0 || node.opens > 0) return
    this.#nodes.delete(node.ino)
    if (node.type === 'file') {
      this.#totalBytes -= node.size
      node.data = new Uint8Array(0)
      node.size = 0
    }
  }

  #grow(file: FileNode, end: number): void {
    if (end > this.limits.maxFileSize) throw new WasiError(Errno.FBIG)
    if (this.#totalBytes + (end - file.size) > this.limits.maxTotalBytes) throw new WasiError(Errno.NOSPC)
    if (end > file.data.length) {
      const capacity = Math.min(Math.max(end, file.data.length * 2, 64), this.limits.maxFileSize)
      const data = new Uint8Array(capacity)
      data.set(file.data.subarray(0, file.size))
      file.data = data
    }
    this.#totalBytes += end - file.size
    file.size = end
  }

  #parentOf(path: string): { dir: DirectoryNode; name: string } {
    const cut = path.lastIndexOf('/')
    const name = path.slice(cut + 1)
    const dir = this.lookup(path.slice(0, Math.max(cut, 0)))
    if (dir === undefined) throw new WasiError(Errno.NOENT, path)
    if (dir.type !== 'directory') throw new WasiError(Errno.NOTDIR, path)
    return { dir, name }
  }
}
