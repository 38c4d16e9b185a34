/**
 * Which allow decisions of hot checks get an audit record. A primary asks "may I send to
 * this shadow?" once per batch, and the connection gater once per dial: writing every
 * allow would fill the audit log with copies of one fact. So an allow is written the first
 * time a question is asked, again after any deny of the same question, and otherwise at
 * most once per interval, counting the ones skipped. Denies are never sampled (the gate
 * writes them all); this only ever says whether to write an allow.
 */

export interface AllowSamplerInit {
  /** At most one allow record per question per this long (milliseconds). */
  intervalMs: number
  /** Questions remembered; the oldest is forgotten past this (its next allow is written). */
  capacity: number
}

interface Seen {
  /** When the last record of this question was written (ms), or -Infinity after a deny. */
  writtenAt: number
  /** Allows not written since then. */
  skipped: number
}

export class AllowSampler {
  readonly #intervalMs: number
  readonly #capacity: number
  readonly #seen = new Map<string, Seen>()

  constructor(init: AllowSamplerInit) {
    this.#intervalMs = init.intervalMs
    this.#capacity = init.capacity
  }

  /** An allow for `key` at `now`: undefined to skip it, or how many were skipped before this one. */
  allow(key: string, now: number): number | undefined {
    const seen = this.#seen.get(key)
    if (seen != null && now - seen.writtenAt < this.#intervalMs) {
      seen.skipped += 1
      return undefined
    }
    const skipped = seen?.skipped ?? 0
    this.#remember(key, { writtenAt: now, skipped: 0 })
    return skipped
  }

  /** A deny for `key`: the next allow of it is news and gets written. */
  deny(key: string): void {
    const seen = this.#seen.get(key)
    if (seen != null) seen.writtenAt = Number.NEGATIVE_INFINITY
  }

  #remember(key: string, seen: Seen): void {
    this.#seen.delete(key)
    if (this.#seen.size >= this.#capacity) {
      const oldest = this.#seen.keys().next()
      if (!oldest.done) this.#seen.delete(oldest.value)
    }
    this.#seen.set(key, seen)
  }
}
