/**
 * The released output of one workload: bytes its guest wrote whose entries are committed, in order,
 * addressed by byte offset. Every replica builds the same one (a shadow by replaying committed entries,
 * the primary by releasing held output on commit), so a client can read it from any of them and resume
 * at an offset after a failover.
 */
import type { LogChunk } from '../../control/api-types.ts'

interface Piece {
  offset: number
  seq: number
  stream: 'stdout' | 'stderr'
  bytes: Uint8Array
}

export interface OutputRead {
  chunks: LogChunk[]
  next: number
}

export class OutputLog {
  #pieces: Piece[] = []
  #length = 0
  #base = 0
  #ended = false
  readonly #waiters = new Set<() => void>()

  /** Bytes released so far. */
  get length(): number {
    return this.#length
  }

  /** The workload's guest ended: nothing more will come. */
  get ended(): boolean {
    return this.#ended
  }

  append(seq: number, stream: 'stdout' | 'stderr', bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.#pieces.push({ offset: this.#length, seq, stream, bytes: bytes.slice() })
    this.#length += bytes.length
    this.#wake()
  }

  end(): void {
    this.#ended = true
    this.#wake()
  }

  /** Output before `offset` is not held here (the replica started from a checkpoint taken there). */
  rebase(offset: number): void {
    this.#pieces = []
    this.#length = offset
    this.#base = offset
    this.#ended = false
  }

  /** The first offset held. */
  get base(): number {
    return this.#base
  }

  /**
   * Forgets everything: the machine is being rebuilt from the log and will release the same bytes
   * again (the guest is deterministic), so readers waiting at an offset simply wait until it is back.
   */
  rewind(): void {
    this.#pieces = []
    this.#length = 0
    this.#base = 0
    this.#ended = false
  }

  read(from: number, maxBytes = 1 << 20): OutputRead {
    const chunks: LogChunk[] = []
    let budget = maxBytes
    // Output before the checkpoint this replica started from is not here: the answer starts at the
    // first byte held, and its offset shows the reader the gap.
    let next = Math.max(from, this.#base)
    for (const p of this.#pieces) {
      const end = p.offset + p.bytes.length
      if (end <= next) continue
      if (budget <= 0) break
      const start = next - p.offset
      const slice = p.bytes.subarray(start, Math.min(p.bytes.length, start + budget))
      chunks.push({ offset: next, seq: p.seq, stream: p.stream, data: Buffer.from(slice).toString('base64') })
      next += slice.length
      budget -= slice.length
    }
    return { chunks, next }
  }

  /** Resolves when there is output past `offset`, the log ended, or `signal` aborts. */
  waitPast(offset: number, signal: AbortSignal): Promise<void> {
    if (this.#length > offset || this.#ended || signal.aborted) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        this.#waiters.delete(check)
        signal.removeEventListener('abort', done)
        resolve()
      }
      const check = () => {
        if (this.#length > offset || this.#ended) done()
      }
      this.#waiters.add(check)
      signal.addEventListener('abort', done, { once: true })
    })
  }

  /** Follows the log from `from` until `signal` aborts or the log ends. */
  async *follow(from: number, signal: AbortSignal): AsyncGenerator<LogChunk> {
    let next = from
    while (!signal.aborted) {
      const read = this.read(next)
      for (const c of read.chunks) yield c
      next = read.next
      if (this.#ended && next >= this.#length) return
      await this.waitPast(next, signal)
    }
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w()
  }
}
