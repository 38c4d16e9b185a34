/**
 * Checkpoint files: the whole state of a paused wasm guest, restorable in
 * another process.
 *
 *   magic "USTDYCKP" | u32 format version | u32 n | n bytes of JSON metadata
 *   | u32 globals, each: u16 name length, name, 9 bytes (state-digest.ts encoding)
 *   | Asyncify memory image
 *   | u64 n | host snapshot | u64 n | tape blob
 *   | linear memory image
 *   | SHA-256 of everything before it
 *
 * A memory image is u64 byte length, u32 page count, the indices (u32 each,
 * ascending) of the non-zero pages, then those pages, 64 KiB each. Integers
 * are little-endian. Linear memory comes last so a restore can read its pages
 * straight into the new instance's memory (openCheckpoint).
 */
import { createHash, randomBytes } from 'node:crypto'
import { type FileHandle, open, readFile, rename, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { CheckpointError } from '../../errors/index.ts'
import type { GlobalValue, PausePoint } from './asyncify-runtime.ts'
import { type MemoryImage, type MemoryPage, PAGE_BYTES } from './memory-image.ts'
import { decodeGlobal, encodeGlobal } from './state-digest.ts'
import type { ToolVersions } from './tool-versions.ts'

export const CHECKPOINT_FORMAT_VERSION = 1

export interface Checkpoint {
  /** SHA-256 (hex) of the guest module as given. */
  moduleHash: string
  /** SHA-256 (hex) of the instrumented module: restore needs the very same one. */
  instrumentedHash: string
  tools: ToolVersions
  entry: string
  /** The pausable import the guest stopped before; it runs afresh on restore. */
  pausedAt: PausePoint
  /** The state digest when the checkpoint was taken. */
  digest: Uint8Array
  memory: MemoryImage
  asyncifyMemory: MemoryImage
  globals: GlobalValue[]
  /** The host's snapshot() (WASI state: fd table, virtual disk, clocks). */
  host: Uint8Array
  /** The caller's opaque log position (position, last hash). */
  tape: Uint8Array
}

/** A checkpoint file opened for restore: everything but the memory pages, which go straight to their target. */
export interface OpenedCheckpoint extends Omit<Checkpoint, 'memory'> {
  memory: { byteLength: number; pageIndices: readonly number[] }
  /**
   * Reads the memory pages into `target` (memory.byteLength bytes), zeroes the
   * other pages below `cleanBelow` (above it, `target` is known to be zero),
   * then verifies the file's checksum. Closes the file.
   */
  loadMemory(target: Uint8Array, cleanBelow: number): Promise<void>
  close(): Promise<void>
}

const MAGIC = new TextEncoder().encode('USTDYCKP')
const HASH_BYTES = 32

interface Meta {
  moduleHash: string
  instrumentedHash: string
  tools: ToolVersions
  entry: string
  pausedAt: { module: string; name: string; args: string[] }
  digest: string
}

/** The checkpoint as a list of byte chunks (pages are not copied), checksum excluded. */
export function encodeCheckpointBody(cp: Checkpoint): Uint8Array[] {
  const meta: Meta = {
    moduleHash: cp.moduleHash,
    instrumentedHash: cp.instrumentedHash,
    tools: cp.tools,
    entry: cp.entry,
    // Arguments as strings: i64 arguments are bigints.
    pausedAt: {
      ...cp.pausedAt,
      args: cp.pausedAt.args.map((a) => (typeof a === 'bigint' ? `${a}n` : `${a}`)),
    },
    digest: Buffer.from(cp.digest).toString('hex'),
  }
  const metaBytes = new TextEncoder().encode(JSON.stringify(meta))
  const chunks: Uint8Array[] = [MAGIC, u32(CHECKPOINT_FORMAT_VERSION), u32(metaBytes.byteLength), metaBytes]
  chunks.push(u32(cp.globals.length))
  for (const g of cp.globals) {
    const name = new TextEncoder().encode(g.name)
    const len = new Uint8Array(2)
    new DataView(len.buffer).setUint16(0, name.byteLength, true)
    chunks.push(len, name, encodeGlobal(g))
  }
  chunks.push(...encodeImage(cp.asyncifyMemory))
  for (const blob of [cp.host, cp.tape]) chunks.push(u64(blob.byteLength), blob)
  chunks.push(...encodeImage(cp.memory))
  return chunks
}

/** The whole file's bytes (for sending a checkpoint elsewhere). */
export function encodeCheckpoint(cp: Checkpoint): Uint8Array {
  const chunks = encodeCheckpointBody(cp)
  const hash = createHash('sha256')
  for (const c of chunks) hash.update(c)
  chunks.push(hash.digest())
  return new Uint8Array(Buffer.concat(chunks))
}

export function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  checkHead(bytes, bytes.byteLength)
  const bodyEnd = bytes.byteLength - HASH_BYTES
  const expected = createHash('sha256').update(bytes.subarray(0, bodyEnd)).digest()
  if (!expected.equals(bytes.subarray(bodyEnd))) throw corrupt()
  const r = new Reader(bytes.subarray(0, bodyEnd), false)
  const prefix = readPrefix(r)
  const pages: MemoryPage[] = prefix.memory.pageIndices.map((index) => ({ index, bytes: r.take(PAGE_BYTES) }))
  if (!r.done()) throw new CheckpointError('the checkpoint has trailing bytes')
  return { ...prefix, memory: { byteLength: prefix.memory.byteLength, pages } }
}

/** Writes the checkpoint atomically: a temporary file, fsync, rename, fsync of the directory. */
export async function writeCheckpoint(path: string, cp: Checkpoint): Promise<{ bytes: number }> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const chunks = encodeCheckpointBody(cp)
  const hash = createHash('sha256')
  let bytes = 0
  const file = await open(tmp, 'w')
  try {
    // writev takes at most IOV_MAX buffers at a time.
    for (let i = 0; i < chunks.length; i += 512) {
      const batch = chunks.slice(i, i + 512)
      for (const c of batch) {
        hash.update(c)
        bytes += c.byteLength
      }
      await file.writev(batch)
    }
    await file.write(hash.digest())
    bytes += HASH_BYTES
    await file.sync()
  } catch (err) {
    await file.close()
    // The write failed: drop the partial temporary file, then report the write's error.
    await unlink(tmp)
    throw err
  }
  await file.close()
  await rename(tmp, path)
  const dir = await open(dirname(path), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
  return { bytes }
}

/** Reads and verifies a whole checkpoint file into memory. */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array
  try {
    const file = await readFile(path)
    // A plain view, so the decoded blobs are Uint8Arrays rather than Buffers.
    bytes = new Uint8Array(file.buffer, file.byteOffset, file.byteLength)
  } catch (err) {
    throw new CheckpointError(`cannot read checkpoint ${path}: ${(err as Error).message}`, { cause: err })
  }
  return decodeCheckpoint(bytes)
}

/**
 * Opens a checkpoint file for a restore that reads memory pages straight into
 * the guest's memory (no intermediate copy of a large memory). The checksum
 * is verified by loadMemory(), after the pages are in place.
 */
export async function openCheckpoint(path: string): Promise<OpenedCheckpoint> {
  let file: FileHandle
  try {
    file = await open(path, 'r')
  } catch (err) {
    throw new CheckpointError(`cannot read checkpoint ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    const size = (await file.stat()).size
    let chunk = Math.min(size, 1 << 20)
    for (;;) {
      const head = new Uint8Array(chunk)
      await readFully(file, head, 0)
      checkHead(head, size)
      const r = new Reader(head, chunk < size - HASH_BYTES)
      let prefix: ReturnType<typeof readPrefix>
      try {
        prefix = readPrefix(r)
      } catch (err) {
        if (err instanceof NeedMore) {
          chunk = Math.min(size, chunk * 4)
          continue
        }
        throw err
      }
      const pagesAt = r.pos
      const expectedSize = pagesAt + prefix.memory.pageIndices.length * PAGE_BYTES + HASH_BYTES
      if (size !== expectedSize) {
        throw size < expectedSize ? new CheckpointError('the checkpoint is truncated') : corrupt()
      }
      let closed: Promise<void> | undefined
      const close = () => {
        closed ??= file.close()
        return closed
      }
      return {
        ...prefix,
        loadMemory: async (target, cleanBelow) => {
          try {
            await loadPages(file, head.subarray(0, pagesAt), pagesAt, prefix.memory, target, cleanBelow)
          } finally {
            await close()
          }
        },
        close,
      }
    }
  } catch (err) {
    await file.close()
    throw err
  }
}

async function loadPages(
  file: FileHandle,
  prefixBytes: Uint8Array,
  pagesAt: number,
  memory: { byteLength: number; pageIndices: readonly number[] },
  target: Uint8Array,
  cleanBelow: number,
) {
  if (target.byteLength !== memory.byteLength)
    throw new CheckpointError('the target memory has the wrong size')
  const hash = createHash('sha256').update(prefixBytes)
  const indices = memory.pageIndices
  let filePos = pagesAt
  let next = 0 // first page not yet written
  for (let i = 0; i < indices.length; ) {
    // A run of consecutive pages is one read.
    let end = i + 1
    while (end < indices.length && indices[end] === (indices[end - 1] ?? 0) + 1) end++
    const first = indices[i] ?? 0
    const bytes = target.subarray(first * PAGE_BYTES, (first + end - i) * PAGE_BYTES)
    if (first > next) target.fill(0, next * PAGE_BYTES, Math.min(first * PAGE_BYTES, cleanBelow))
    await readFully(file, bytes, filePos)
    hash.update(bytes)
    filePos += bytes.byteLength
    next = first + end - i
    i = end
  }
  if (next * PAGE_BYTES < cleanBelow) target.fill(0, next * PAGE_BYTES, cleanBelow)
  const trailer = new Uint8Array(HASH_BYTES)
  await readFully(file, trailer, filePos)
  if (!hash.digest().equals(trailer)) throw corrupt()
}

async function readFully(file: FileHandle, into: Uint8Array, position: number) {
  for (let done = 0; done < into.byteLength; ) {
    const { bytesRead } = await file.read(
      into,
      done,
      Math.min(into.byteLength - done, 64 << 20),
      position + done,
    )
    if (bytesRead === 0) throw new CheckpointError('the checkpoint is truncated')
    done += bytesRead
  }
}

function checkHead(bytes: Uint8Array, fileSize: number) {
  const head = bytes.subarray(0, MAGIC.byteLength)
  if (head.byteLength === 0 || !head.every((b, i) => MAGIC[i] === b)) {
    throw new CheckpointError('not an understudy checkpoint (bad magic number)')
  }
  if (fileSize < MAGIC.byteLength + 4 + HASH_BYTES || bytes.byteLength < MAGIC.byteLength + 4) {
    throw new CheckpointError('the checkpoint is truncated')
  }
  const version = new DataView(bytes.buffer, bytes.byteOffset + MAGIC.byteLength, 4).getUint32(0, true)
  if (version > CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointError(
      `the checkpoint was written by a newer understudy (format v${version}; this one reads up to v${CHECKPOINT_FORMAT_VERSION})`,
    )
  }
  if (version < 1) throw new CheckpointError(`unknown checkpoint format v${version}`)
}

/** Everything before the linear memory's pages. */
function readPrefix(r: Reader) {
  r.pos = MAGIC.byteLength + 4
  let meta: Meta
  const metaBytes = r.take(r.u32())
  try {
    meta = JSON.parse(new TextDecoder().decode(metaBytes)) as Meta
  } catch (err) {
    throw new CheckpointError('the checkpoint metadata does not parse', { cause: err })
  }
  const globals: GlobalValue[] = []
  const count = r.u32()
  for (let i = 0; i < count; i++) {
    const name = new TextDecoder().decode(r.take(r.u16()))
    const bytes = r.take(9)
    try {
      globals.push(decodeGlobal(name, bytes))
    } catch (err) {
      throw new CheckpointError(`global ${name} does not decode`, { cause: err })
    }
  }
  const asyncifyHeader = readImageHeader(r)
  const asyncifyMemory: MemoryImage = {
    byteLength: asyncifyHeader.byteLength,
    pages: asyncifyHeader.pageIndices.map((index) => ({ index, bytes: r.take(PAGE_BYTES) })),
  }
  const host = r.take(r.u64())
  const tape = r.take(r.u64())
  const memory = readImageHeader(r)
  return {
    moduleHash: meta.moduleHash,
    instrumentedHash: meta.instrumentedHash,
    tools: meta.tools,
    entry: meta.entry,
    pausedAt: {
      module: meta.pausedAt.module,
      name: meta.pausedAt.name,
      args: meta.pausedAt.args.map((a) => (a.endsWith('n') ? BigInt(a.slice(0, -1)) : Number(a))),
    },
    digest: new Uint8Array(Buffer.from(meta.digest, 'hex')),
    globals,
    asyncifyMemory,
    host,
    tape,
    memory,
  }
}

function encodeImage(image: MemoryImage): Uint8Array[] {
  const header = new Uint8Array(12 + 4 * image.pages.length)
  const view = new DataView(header.buffer)
  view.setBigUint64(0, BigInt(image.byteLength), true)
  view.setUint32(8, image.pages.length, true)
  image.pages.forEach((p, i) => {
    view.setUint32(12 + 4 * i, p.index, true)
  })
  return [header, ...image.pages.map((p) => p.bytes)]
}

function readImageHeader(r: Reader): { byteLength: number; pageIndices: number[] } {
  const byteLength = r.u64()
  const count = r.u32()
  if (byteLength % PAGE_BYTES !== 0) throw new CheckpointError('a memory image is not whole pages')
  const pageIndices: number[] = []
  let last = -1
  for (let i = 0; i < count; i++) {
    const index = r.u32()
    if (index <= last || (index + 1) * PAGE_BYTES > byteLength) {
      throw new CheckpointError(`memory page ${index} is out of order or out of range`)
    }
    last = index
    pageIndices.push(index)
  }
  return { byteLength, pageIndices }
}

function corrupt() {
  return new CheckpointError('the checkpoint is corrupt (checksum mismatch): it was damaged or cut short')
}

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n, true)
  return out
}

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true)
  return out
}

/** Thrown while parsing a file's first bytes when the parse needs more of them. */
class NeedMore extends Error {}

class Reader {
  readonly bytes: Uint8Array
  readonly view: DataView
  /** The bytes are only the start of the file: running out means "read more", not "truncated". */
  readonly partial: boolean
  pos = 0

  constructor(bytes: Uint8Array, partial: boolean) {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.partial = partial
  }

  done() {
    return this.pos === this.bytes.byteLength
  }

  #need(n: number) {
    if (this.pos + n > this.bytes.byteLength) {
      throw this.partial ? new NeedMore() : new CheckpointError('the checkpoint is truncated')
    }
  }

  u16() {
    this.#need(2)
    const v = this.view.getUint16(this.pos, true)
    this.pos += 2
    return v
  }

  u32() {
    this.#need(4)
    const v = this.view.getUint32(this.pos, true)
    this.pos += 4
    return v
  }

  u64() {
    this.#need(8)
    const v = this.view.getBigUint64(this.pos, true)
    this.pos += 8
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new CheckpointError('a length in the checkpoint is too large')
    return Number(v)
  }

  take(n: number): Uint8Array {
    this.#need(n)
    const out = this.bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }
}
