/**
 * Copying between a host directory and a virtual disk. Reading a seed only
 * reads (lstat, readdir, readFile, readlink: symlinks are copied, never
 * followed); exporting only writes into a fresh directory.
 */
import type { Stats } from 'node:fs'
import {
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readFile,
  readlink,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError } from '../../errors/index.ts'
import { compareNames } from './name-order.ts'
import type { DirectoryNode, DiskNode, FileNode, SkippedEntry, VirtualDisk } from './virtual-disk.ts'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Fills `into` (default: the disk's root) from `hostDir`; returns the entries left out and why. */
export async function seedFromHostDir(
  disk: VirtualDisk,
  hostDir: string,
  into: DirectoryNode = disk.root,
): Promise<SkippedEntry[]> {
  let rootStat: Stats
  try {
    rootStat = await lstat(hostDir)
  } catch (err) {
    throw new ConfigError(`the seed directory ${hostDir} cannot be read`, { cause: err })
  }
  if (!rootStat.isDirectory()) throw new ConfigError(`the seed ${hostDir} is not a directory`)
  const skipped: SkippedEntry[] = []
  const hardLinks = new Map<string, FileNode>()
  await copyDirectory(disk, hostDir, '', into, skipped, hardLinks)
  return skipped
}

async function copyDirectory(
  disk: VirtualDisk,
  hostPath: string,
  relPath: string,
  dir: DirectoryNode,
  skipped: SkippedEntry[],
  hardLinks: Map<string, FileNode>,
): Promise<void> {
  const raw = await readdir(hostPath, { encoding: 'buffer' })
  const names: string[] = []
  for (const bytes of raw) {
    try {
      names.push(utf8.decode(bytes))
    } catch {
      skipped.push({ path: join(relPath, bytes.toString('latin1')), reason: 'name is not UTF-8' })
    }
  }
  names.sort(compareNames)
  for (const name of names) {
    const hostChild = join(hostPath, name)
    const relChild = relPath === '' ? name : `${relPath}/${name}`
    const st = await lstat(hostChild)
    if (st.isDirectory()) {
      await copyDirectory(disk, hostChild, relChild, disk.addDirectory(dir, name), skipped, hardLinks)
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`
      const existing = st.nlink > 1 ? hardLinks.get(key) : undefined
      if (existing !== undefined) {
        disk.addLink(dir, name, existing)
        continue
      }
      if (st.size > disk.limits.maxFileSize) {
        throw new ConfigError(`${hostChild} is larger than the disk's file size limit`)
      }
      const file = disk.addFile(dir, name)
      disk.write(file, 0, await readFile(hostChild))
      if (st.nlink > 1) hardLinks.set(key, file)
    } else if (st.isSymbolicLink()) {
      const target = await readlink(hostChild, { encoding: 'buffer' })
      try {
        disk.addSymlink(dir, name, utf8.decode(target))
      } catch {
        skipped.push({ path: relChild, reason: 'symlink target is not UTF-8' })
      }
    } else {
      skipped.push({ path: relChild, reason: `${specialKind(st)} is not supported` })
    }
  }
}

function specialKind(st: Stats): string {
  if (st.isFIFO()) return 'a named pipe'
  if (st.isSocket()) return 'a socket'
  if (st.isCharacterDevice()) return 'a character device'
  if (st.isBlockDevice()) return 'a block device'
  return 'this file type'
}

/** Writes the disk's tree into `hostDir` (created if absent; must be empty). */
export async function exportToHostDir(disk: VirtualDisk, hostDir: string): Promise<void> {
  await mkdir(hostDir, { recursive: true })
  if ((await readdir(hostDir)).length > 0) {
    throw new ConfigError(`cannot export the disk into ${hostDir}: the directory is not empty`)
  }
  await writeDirectory(disk, disk.root, hostDir, new Map())
}

async function writeDirectory(
  disk: VirtualDisk,
  dir: DirectoryNode,
  hostPath: string,
  written: Map<DiskNode, string>,
): Promise<void> {
  for (const name of disk.sortedNames(dir)) {
    const node = dir.entries.get(name)!
    const target = join(hostPath, name)
    const first = written.get(node)
    if (first !== undefined) {
      await link(first, target)
      continue
    }
    if (node.type === 'directory') {
      await mkdir(target)
      await writeDirectory(disk, node, target, written)
    } else if (node.type === 'file') {
      await writeFile(target, node.data.subarray(0, node.size))
      await utimes(target, seconds(node.atim), seconds(node.mtim))
      if (node.nlink > 1) written.set(node, target)
    } else {
      await symlink(node.target, target)
      await lutimes(target, seconds(node.atim), seconds(node.mtim))
      if (node.nlink > 1) written.set(node, target)
    }
  }
  await utimes(hostPath, seconds(dir.atim), seconds(dir.mtim))
}

function seconds(ns: bigint): number {
  return Number(ns) / 1e9
}
