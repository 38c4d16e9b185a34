/**
 * The running hash of a log. Entry 0's prevHash is GENESIS_HASH, the SHA-256 of
 * the ASCII string 'understudy/log/genesis/v1'; after each entry
 *
 *   next = SHA-256(prevHash || frame of the entry)
 *
 * so two replicas whose logs differ anywhere disagree from the following entry on.
 * The chain also owns the order rules: seqs are contiguous and epochs never go back.
 */
import { createHash, hash } from 'node:crypto'
import { CorruptLogError } from '../../errors/index.ts'
import { EntryKind, type LogEntry } from '../types.ts'
import { decodeEpochStart } from './call-codec.ts'
import { type DecodedFrame, encodeEntryAfter, encodeHeaderAfter, HASH_BYTES } from './log-codec.ts'

/** Where a chain stands: what a checkpoint records to resume recording or replay mid-log. */
export interface ChainPosition {
  /** seq of the next entry. */
  position: number
  /** Hash of the log up to position (the next entry's prevHash). */
  lastHash: Uint8Array
  /** Epoch of the entry before position, when known. */
  epoch?: number
}

export const GENESIS_HASH: Uint8Array = sha256(new TextEncoder().encode('understudy/log/genesis/v1'))

// above this, hash prev and frame incrementally rather than copying the frame
const CONCAT_LIMIT = 4096

export function sha256(bytes: Uint8Array): Uint8Array {
  return hash('sha256', bytes, 'buffer')
}

/** SHA-256(prev || frame). */
export function chainNext(prev: Uint8Array, frame: Uint8Array): Uint8Array {
  if (frame.length > CONCAT_LIMIT) return createHash('sha256').update(prev).update(frame).digest()
  const buf = new Uint8Array(prev.length + frame.length)
  buf.set(prev, 0)
  buf.set(frame, prev.length)
  return sha256(buf)
}

/** chainNext(prev, encodeEntry(entry)), without materializing a large entry's frame. */
export function entryHash(prev: Uint8Array, entry: LogEntry): Uint8Array {
  if (entry.payload.length <= CONCAT_LIMIT) return sha256(encodeEntryAfter(prev, entry))
  return createHash('sha256').update(encodeHeaderAfter(prev, entry)).update(entry.payload).digest()
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export class HashChain {
  #position: number
  #lastHash: Uint8Array
  #epoch: number | undefined

  /** A chain at genesis, or resumed where a checkpoint left it. */
  constructor(start?: ChainPosition) {
    if (start !== undefined && start.lastHash.length !== HASH_BYTES) {
      throw new RangeError(`lastHash must be ${HASH_BYTES} bytes`)
    }
    this.#position = start?.position ?? 0
    this.#lastHash = start?.lastHash ?? GENESIS_HASH
    this.#epoch = start?.epoch
  }

  /** seq of the next entry. */
  get position(): number {
    return this.#position
  }

  /** The next entry's prevHash. Do not mutate. */
  get lastHash(): Uint8Array {
    return this.#lastHash
  }

  /** Epoch of the last entry (or of the resume point), undefined at genesis. */
  get epoch(): number | undefined {
    return this.#epoch
  }

  snapshot(): ChainPosition {
    const s: ChainPosition = { position: this.#position, lastHash: this.#lastHash }
    if (this.#epoch !== undefined) s.epoch = this.#epoch
    return s
  }

  /**
   * Builds the next entry, encodes it and advances. Throws RangeError if the epoch
   * would go backwards (a bug in the caller, not bad input).
   */
  append(kind: EntryKind, epoch: number, payload: Uint8Array): DecodedFrame {
    if (this.#epoch !== undefined && epoch < this.#epoch) {
      throw new RangeError(`epoch ${epoch} is older than the log's epoch ${this.#epoch}`)
    }
    if (kind === EntryKind.EpochStart && this.#epoch !== undefined && epoch <= this.#epoch) {
      throw new RangeError(`an epoch start must raise the epoch above ${this.#epoch}, got ${epoch}`)
    }
    const prev = this.#lastHash
    const entry: LogEntry = { seq: this.#position, epoch, kind, payload, prevHash: prev }
    const buf = encodeEntryAfter(prev, entry)
    this.#lastHash = sha256(buf)
    this.#position++
    this.#epoch = epoch
    return { entry, frame: buf.subarray(HASH_BYTES) }
  }

  /**
   * Checks that `entry` is the next entry of this chain and advances. `frame`, if
   * given, must be the entry's encoding (it saves re-encoding). Throws
   * CorruptLogError naming the entry at this chain's position.
   */
  verify(entry: LogEntry, frame?: Uint8Array): void {
    const at = this.#position
    if (entry.seq !== at) {
      throw new CorruptLogError(
        `entry ${at}: found seq ${entry.seq} where seq ${at} was expected (an entry is missing, repeated or out of order)`,
        at,
      )
    }
    if (!equalBytes(entry.prevHash, this.#lastHash)) {
      throw new CorruptLogError(
        `entry ${at}: prevHash does not match the hash of the log before it (the log was altered at or before entry ${at})`,
        at,
      )
    }
    if (this.#epoch !== undefined && entry.epoch < this.#epoch) {
      throw new CorruptLogError(`entry ${at}: epoch went back from ${this.#epoch} to ${entry.epoch}`, at)
    }
    if (entry.kind === EntryKind.EpochStart) {
      const { epoch } = decodeEpochStart(entry.payload, at)
      if (epoch !== entry.epoch) {
        throw new CorruptLogError(
          `entry ${at}: epoch start names epoch ${epoch} but is stamped ${entry.epoch}`,
          at,
        )
      }
      if (this.#epoch !== undefined && epoch <= this.#epoch) {
        throw new CorruptLogError(
          `entry ${at}: epoch start ${epoch} does not raise the epoch ${this.#epoch}`,
          at,
        )
      }
    }
    this.#lastHash = frame === undefined ? entryHash(this.#lastHash, entry) : chainNext(this.#lastHash, frame)
    this.#position++
    this.#epoch = entry.epoch
  }
}

/** Verifies a whole sequence from `start` (genesis by default); returns the chain at its end. */
export function verifyChain(entries: Iterable<LogEntry>, start?: ChainPosition): HashChain {
  const chain = new HashChain(start)
  for (const entry of entries) chain.verify(entry)
  return chain
}
