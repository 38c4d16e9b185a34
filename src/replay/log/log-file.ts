/**
 * The file format of a recorded log (file format version 1):
 *
 *   header   'USLOG' [u16 BE version][u32 BE n][n bytes of JSON metadata][u32 BE CRC-32 of the header so far]
 *   record   [entry frame (log-codec.ts)][u32 BE CRC-32 of the frame]          (one per entry, seq 0, 1, 2, ...)
 *   end      [u32 0][varint entry count][32-byte hash after the last entry][u32 BE CRC-32 of the end record]
 *
 * The CRC of each record pins a damaged entry to its own seq (the hash chain alone
 * would only notice at the next entry, and never for the last one); the chain pins
 * edits that recompute CRCs; the end record says the writer closed the file, so a
 * log cut at an entry boundary is not mistaken for a complete one.
 */
import { closeSync, fsync, openSync, writeSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { crc32 } from 'node:zlib'
import { CorruptLogError } from '../../errors/index.ts'
import type { LogEntry } from '../types.ts'
import { ByteReader } from './byte-reader.ts'
import { decodePayload } from './call-codec.ts'
import { chainNext, equalBytes, GENESIS_HASH, HashChain } from './hash-chain.ts'
import {
  checkFrameLength,
  DEFAULT_MAX_PAYLOAD,
  decodeFrame,
  encodeEntry,
  HASH_BYTES,
  LENGTH_BYTES,
  readFrameLength,
} from './log-codec.ts'
import type { EntrySink } from './recorder.ts'
import { varintSize, writeVarint } from './varint.ts'

/** The metadata block: a few known fields and anything else the writer wants to keep. */
export interface LogMeta {
  /** ISO 8601 time the file was created. */
  createdAt: string
  /** Hash of the WebAssembly module that was recorded. */
  moduleHash?: string
  /** Version of the understudy that wrote the file. */
  toolVersion?: string
  [key: string]: unknown
}

export interface LogFileWriterOptions {
  /** Metadata; createdAt defaults to now(). */
  meta?: Partial<LogMeta>
  /** Refuse to overwrite an existing file. Default false. */
  exclusive?: boolean
  /** Bytes buffered before a write to the OS. Default 64 KiB. */
  bufferBytes?: number
  /** Clock for createdAt. */
  now?: () => Date
}

export interface ReadLogOptions {
  /**
   * Return the valid prefix of a log that ends inside an entry or without its end
   * record (a crash while recording), instead of throwing. Damage before the end
   * still throws.
   */
  allowTruncatedTail?: boolean
  /** Largest payload accepted (default 16 MiB). */
  maxPayload?: number
}

export interface LogFile {
  meta: LogMeta
  /** Entries, verified: contiguous seqs from 0, epochs that never go back, an unbroken hash chain. */
  entries: LogEntry[]
  /** Hash of the log after the last entry. */
  lastHash: Uint8Array
  /** False when allowTruncatedTail cut a tail or the end record was missing. */
  complete: boolean
  /** What was wrong with the tail when complete is false. */
  truncation?: string
}

export const LOG_FILE_MAGIC = 'USLOG'
export const LOG_FILE_VERSION = 1
const MAGIC = new TextEncoder().encode(LOG_FILE_MAGIC)
const HEADER_FIXED = MAGIC.length + 2 + 4
const CRC_BYTES = 4
const DEFAULT_BUFFER = 64 * 1024
const fsyncAsync = promisify(fsync)

/** A log file being written. Appends are buffered; sync() makes them durable; close() seals the file. */
export class LogFileWriter implements EntrySink {
  readonly path: string
  readonly meta: LogMeta
  readonly #fd: number
  readonly #buf: Uint8Array
  #used = 0
  #count = 0
  #epoch: number | undefined
  #last: { prevHash: Uint8Array; frame: Uint8Array } | undefined
  #closed = false
  #failed: { error: unknown } | undefined

  /** Creates (or truncates) the file and writes its header. */
  constructor(path: string, options: LogFileWriterOptions = {}) {
    this.path = path
    this.meta = {
      ...options.meta,
      createdAt: options.meta?.createdAt ?? (options.now ?? (() => new Date()))().toISOString(),
    }
    this.#buf = new Uint8Array(options.bufferBytes ?? DEFAULT_BUFFER)
    this.#fd = openSync(path, options.exclusive ? 'wx' : 'w')
    this.#write(encodeHeader(this.meta))
  }

  /** Entries appended so far. */
  get count(): number {
    return this.#count
  }

  append(entry: LogEntry, frame?: Uint8Array): void {
    this.#usable()
    if (entry.seq !== this.#count) {
      throw new CorruptLogError(
        `cannot write entry ${entry.seq} to ${this.path}: entry ${this.#count} comes next`,
        entry.seq,
      )
    }
    if (this.#epoch !== undefined && entry.epoch < this.#epoch) {
      throw new CorruptLogError(
        `cannot write entry ${entry.seq}: its epoch ${entry.epoch} goes back from ${this.#epoch}`,
        entry.seq,
      )
    }
    const bytes = frame ?? encodeEntry(entry)
    this.#guarded(() => {
      this.#write(bytes)
      this.#write(u32(crc32(bytes)))
    })
    this.#count++
    this.#epoch = entry.epoch
    this.#last = { prevHash: entry.prevHash, frame: bytes }
  }

  /** Hands buffered bytes to the OS (not yet durable: see sync). */
  flush(): void {
    this.#usable()
    this.#guarded(() => this.#flush())
  }

  /** Flushes and waits until the OS has the file on disk. */
  async sync(): Promise<void> {
    this.flush()
    await fsyncAsync(this.#fd)
  }

  /** Writes the end record, syncs and closes. A closed file reads back as complete. */
  async close(): Promise<void> {
    if (this.#closed) return
    try {
      this.#usable()
      const last = this.#last === undefined ? GENESIS_HASH : chainNext(this.#last.prevHash, this.#last.frame)
      this.#guarded(() => {
        this.#write(encodeEnd(this.#count, last))
        this.#flush()
      })
      await fsyncAsync(this.#fd)
    } finally {
      // even a failed writer releases its file descriptor
      this.#closed = true
      closeSync(this.#fd)
    }
  }

  /** Closes the file without an end record (what a crash leaves behind; for tests and aborts). */
  abandon(): void {
    if (this.#closed) return
    this.#closed = true
    closeSync(this.#fd)
  }

  #usable(): void {
    if (this.#closed) throw new RangeError(`log file ${this.path} is closed`)
    if (this.#failed !== undefined) throw this.#failed.error
  }

  /** A failed write leaves the file in an unknown state: refuse everything after it. */
  #guarded(work: () => void): void {
    try {
      work()
    } catch (err) {
      this.#failed = { error: err }
      throw err
    }
  }

  #write(bytes: Uint8Array): void {
    if (bytes.length > this.#buf.length - this.#used) {
      this.#flush()
      if (bytes.length > this.#buf.length) {
        writeAll(this.#fd, bytes)
        return
      }
    }
    this.#buf.set(bytes, this.#used)
    this.#used += bytes.length
  }

  #flush(): void {
    if (this.#used === 0) return
    writeAll(this.#fd, this.#buf.subarray(0, this.#used))
    this.#used = 0
  }
}

/** Reads and fully verifies a log file. Every defect is a CorruptLogError naming the first bad entry's seq. */
export async function readLogFile(path: string, options: ReadLogOptions = {}): Promise<LogFile> {
  return parseLogFile(await readFile(path), options)
}

/** parseLogFile for bytes already in memory. Entries' payloads are views into `bytes`. */
export function parseLogFile(bytes: Uint8Array, options: ReadLogOptions = {}): LogFile {
  const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD
  const { meta, end: headerEnd } = parseHeader(bytes)
  const chain = new HashChain()
  const entries: LogEntry[] = []
  const truncated = (reason: string): LogFile => {
    const k = chain.position
    if (!options.allowTruncatedTail) throw new CorruptLogError(reason, k)
    return { meta, entries, lastHash: chain.lastHash, complete: false, truncation: reason }
  }
  let pos = headerEnd
  for (;;) {
    const k = chain.position
    const left = bytes.length - pos
    if (left === 0) {
      const after = k === 0 ? 'before its first entry' : `after entry ${k - 1}`
      return truncated(`log ends ${after} without its end record (the recording did not finish cleanly)`)
    }
    if (left < LENGTH_BYTES)
      return truncated(`log truncated inside entry ${k} (${left} bytes of its length field)`)
    const length = readFrameLength(bytes, pos)
    if (length === 0) return parseEnd(bytes, pos, chain, entries, meta, truncated)
    checkFrameLength(length, maxPayload, k)
    const frameEnd = pos + LENGTH_BYTES + length
    if (frameEnd + CRC_BYTES > bytes.length) {
      return truncated(
        `log truncated inside entry ${k} (${left} of its ${LENGTH_BYTES + length + CRC_BYTES} bytes)`,
      )
    }
    const frame = bytes.subarray(pos, frameEnd)
    if (crc32(frame) !== readU32(bytes, frameEnd)) {
      throw new CorruptLogError(`entry ${k}: checksum mismatch (the entry was damaged)`, k)
    }
    const entry = decodeFrame(bytes, pos, frameEnd, maxPayload, k)
    chain.verify(entry, frame)
    decodePayload(entry)
    entries.push(entry)
    pos = frameEnd + CRC_BYTES
  }
}

function parseHeader(bytes: Uint8Array): { meta: LogMeta; end: number } {
  const fail = (reason: string): never => {
    throw new CorruptLogError(`log file header: ${reason}`)
  }
  for (let i = 0; i < Math.min(MAGIC.length, bytes.length); i++) {
    if (bytes[i] !== MAGIC[i]) fail(`not an understudy log (no ${LOG_FILE_MAGIC} magic)`)
  }
  if (bytes.length < HEADER_FIXED) fail(`truncated (${bytes.length} bytes)`)
  const version = (bytes[5]! << 8) | bytes[6]!
  if (version > LOG_FILE_VERSION) {
    fail(`written by a newer understudy (format v${version}; this one reads v${LOG_FILE_VERSION}); upgrade`)
  }
  if (version !== LOG_FILE_VERSION) fail(`unknown format version ${version}`)
  const metaLength = readU32(bytes, 7)
  const metaEnd = HEADER_FIXED + metaLength
  if (metaEnd + CRC_BYTES > bytes.length)
    fail(`truncated inside the metadata (${metaLength} bytes announced)`)
  if (crc32(bytes.subarray(0, metaEnd)) !== readU32(bytes, metaEnd))
    fail('checksum mismatch (the header was damaged)')
  let meta: unknown
  try {
    meta = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER_FIXED, metaEnd)))
  } catch (err) {
    fail(`metadata is not valid JSON (${(err as Error).message})`)
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) fail('metadata is not a JSON object')
  if (typeof (meta as LogMeta).createdAt !== 'string') fail('metadata lacks createdAt')
  return { meta: meta as LogMeta, end: metaEnd + CRC_BYTES }
}

function parseEnd(
  bytes: Uint8Array,
  pos: number,
  chain: HashChain,
  entries: LogEntry[],
  meta: LogMeta,
  truncated: (reason: string) => LogFile,
): LogFile {
  const k = chain.position
  const r = new ByteReader(bytes, `end record after entry ${k - 1}`, k, pos + LENGTH_BYTES)
  // a tail cut inside the end record is a truncation; anything else wrong in it is damage
  const cut = (): LogFile => truncated(`log truncated inside its end record (after entry ${k - 1})`)
  let count: number
  try {
    count = r.varint('entry count')
  } catch (err) {
    if (r.pos >= bytes.length) return cut()
    throw err
  }
  if (r.remaining < HASH_BYTES + CRC_BYTES) return cut()
  const hash = r.take(HASH_BYTES, 'hash')
  if (crc32(bytes.subarray(pos, r.pos)) !== readU32(bytes, r.pos))
    r.fail('checksum mismatch (the end record was damaged)')
  const end = r.pos + CRC_BYTES
  if (end !== bytes.length) r.fail(`${bytes.length - end} bytes follow the end record`)
  if (count !== k) {
    throw new CorruptLogError(
      `end record counts ${count} entries but the log holds ${k} (entries were removed or added at the end)`,
      Math.min(count, k),
    )
  }
  if (!equalBytes(hash, chain.lastHash)) {
    const seq = Math.max(k - 1, 0)
    throw new CorruptLogError(
      `entry ${seq}: does not match the end record's hash (the last entry was altered)`,
      seq,
    )
  }
  return { meta, entries, lastHash: chain.lastHash, complete: true }
}

function encodeHeader(meta: LogMeta): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(meta))
  const buf = new Uint8Array(HEADER_FIXED + json.length + CRC_BYTES)
  buf.set(MAGIC, 0)
  buf[5] = LOG_FILE_VERSION >>> 8
  buf[6] = LOG_FILE_VERSION & 0xff
  buf.set(u32(json.length), 7)
  buf.set(json, HEADER_FIXED)
  buf.set(u32(crc32(buf.subarray(0, HEADER_FIXED + json.length))), HEADER_FIXED + json.length)
  return buf
}

function encodeEnd(count: number, hash: Uint8Array): Uint8Array {
  const body = LENGTH_BYTES + varintSize(count) + HASH_BYTES
  const buf = new Uint8Array(body + CRC_BYTES)
  const pos = writeVarint(buf, LENGTH_BYTES, count)
  buf.set(hash, pos)
  buf.set(u32(crc32(buf.subarray(0, body))), body)
  return buf
}

function u32(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
}

function readU32(bytes: Uint8Array, pos: number): number {
  return ((bytes[pos]! << 24) | (bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!) >>> 0
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off)
}
