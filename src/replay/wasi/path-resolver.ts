/**
 * WASI path resolution: relative to a directory descriptor, component by
 * component (physical `..`, as Linux and wasmtime do), never above the
 * directory it started from (ENOTCAPABLE), following symlinks whose targets
 * are relative (absolute targets escape the sandbox: ENOTCAPABLE).
 */
import type { DirectoryNode, DiskNode } from './virtual-disk.ts'
import { Errno } from './wasi-constants.ts'
import { WasiError } from './wasi-error.ts'

/** Symlinks followed in one resolution before ELOOP (Linux's limit). */
const MAX_SYMLINK_HOPS = 40
const MAX_NAME_BYTES = 255

export interface Resolved {
  /** The directory that holds the final component. */
  parent: DirectoryNode
  /** The final component; '.' or '..' when the path ends with one. */
  name: string
  /** What the final component names, if it exists. */
  node: DiskNode | undefined
  /** The path ended with '/': the final component must be a directory. */
  trailingSlash: boolean
}

/**
 * Resolves `path` under `start`. Intermediate symlinks are always followed;
 * the final one only when `follow` (or the path ends with '/').
 */
export function resolvePath(start: DirectoryNode, path: string, follow: boolean): Resolved {
  if (path === '') throw new WasiError(Errno.NOENT)
  if (path.startsWith('/')) throw new WasiError(Errno.NOTCAPABLE)
  let trailingSlash = path.endsWith('/')
  // Components to visit, last first (so symlink targets can be pushed on top).
  const pending = splitReversed(path)
  const stack: DirectoryNode[] = [start]
  let hops = 0
  for (;;) {
    const name = pending.pop()!
    const last = pending.length === 0
    const dir = stack[stack.length - 1]!
    if (name === '.') {
      if (last) return { parent: dir, name, node: dir, trailingSlash }
      continue
    }
    if (name === '..') {
      if (stack.length === 1) throw new WasiError(Errno.NOTCAPABLE)
      if (last) return { parent: dir, name, node: stack[stack.length - 2], trailingSlash }
      stack.pop()
      continue
    }
    if (name.length > MAX_NAME_BYTES / 3 && new TextEncoder().encode(name).length > MAX_NAME_BYTES) {
      throw new WasiError(Errno.NAMETOOLONG)
    }
    const child = dir.nlink === 0 ? undefined : dir.entries.get(name)
    if (child?.type === 'symlink' && (!last || follow || trailingSlash)) {
      if (++hops > MAX_SYMLINK_HOPS) throw new WasiError(Errno.LOOP)
      const target = child.target
      if (target === '') throw new WasiError(Errno.NOENT)
      if (target.startsWith('/')) throw new WasiError(Errno.NOTCAPABLE)
      if (last && target.endsWith('/')) trailingSlash = true
      pending.push(...splitReversed(target))
      continue
    }
    if (last) {
      if (trailingSlash && child !== undefined && child.type !== 'directory')
        throw new WasiError(Errno.NOTDIR)
      return { parent: dir, name, node: child, trailingSlash }
    }
    if (child === undefined) throw new WasiError(Errno.NOENT)
    if (child.type !== 'directory') throw new WasiError(Errno.NOTDIR)
    stack.push(child)
  }
}

function splitReversed(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '')
  // A path of slashes only (or a symlink to one) names the directory itself.
  if (parts.length === 0) parts.push('.')
  return parts.reverse()
}
