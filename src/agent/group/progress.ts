import type { ProgressState } from './types.ts'

/**
 * What the primary knows of one shadow's log, and how fast it may send to it. Probe: one message at a
 * time until the primary finds where the logs agree. Replicate: stream optimistically within the
 * inflight byte window. Checkpoint: the shadow needs a checkpoint; send nothing else until it answers.
 */
export class Progress {
  state: ProgressState = 'probe'
  matchSeq = 0
  nextSeq: number
  /** Probe: a message is out and unanswered. */
  probeSent = false
  inflight: { lastSeq: number; bytes: number }[] = []
  inflightBytes = 0
  /** Heard from since the primary last checked its quorum. */
  recentActive = false
  pendingCheckpoint = 0
  checkpointSentAt = Number.NEGATIVE_INFINITY
  /** Tick at which matchSeq last moved (or streaming began): detects lost messages while replicating. */
  lastProgressAt: number
  /** Highest commit seq this shadow has been told. */
  sentCommit = 0
  /** Tick at which the primary saw this member's removal committed (it is then told, then forgotten). */
  departedAt: number | undefined

  constructor(nextSeq: number, now: number) {
    this.nextSeq = nextSeq
    this.lastProgressAt = now
  }

  #reset(state: ProgressState): void {
    this.state = state
    this.probeSent = false
    this.inflight = []
    this.inflightBytes = 0
  }

  becomeProbe(): void {
    const after =
      this.state === 'checkpoint' ? Math.max(this.matchSeq, this.pendingCheckpoint) : this.matchSeq
    this.#reset('probe')
    this.pendingCheckpoint = 0
    this.nextSeq = after + 1
    this.sentCommit = Math.min(this.sentCommit, this.nextSeq - 1)
  }

  becomeReplicate(now: number): void {
    this.#reset('replicate')
    this.nextSeq = this.matchSeq + 1
    this.lastProgressAt = now
  }

  becomeCheckpoint(seq: number, now: number): void {
    this.#reset('checkpoint')
    this.pendingCheckpoint = seq
    this.checkpointSentAt = now
  }

  isPaused(maxInflightBytes: number): boolean {
    if (this.state === 'probe') return this.probeSent
    if (this.state === 'replicate') return this.inflight.length > 0 && this.inflightBytes >= maxInflightBytes
    return true
  }

  sentEntries(lastSeq: number, count: number, bytes: number): void {
    if (this.state === 'replicate' && count > 0) {
      this.nextSeq = lastSeq + 1
      this.inflight.push({ lastSeq, bytes })
      this.inflightBytes += bytes
    } else if (this.state === 'probe') {
      this.probeSent = true
    }
  }

  /** The shadow holds everything up to seq. */
  maybeUpdate(seq: number, now: number): boolean {
    if (seq <= this.matchSeq) return false
    this.matchSeq = seq
    this.nextSeq = Math.max(this.nextSeq, seq + 1)
    this.probeSent = false
    this.lastProgressAt = now
    this.#freeTo(seq)
    return true
  }

  /**
   * The shadow rejected the append after `rejectedSeq`; `agreeSeq` is where the primary now thinks
   * the logs may agree. False for a stale rejection (an answer to a message sent before a newer probe).
   */
  maybeDecrTo(rejectedSeq: number, agreeSeq: number): boolean {
    if (this.state === 'replicate') {
      if (rejectedSeq <= this.matchSeq) return false
      this.nextSeq = this.matchSeq + 1
      return true
    }
    if (this.state !== 'probe' || this.nextSeq - 1 !== rejectedSeq) return false
    this.nextSeq = Math.max(Math.min(rejectedSeq, agreeSeq + 1), this.matchSeq + 1)
    this.probeSent = false
    this.sentCommit = Math.min(this.sentCommit, this.nextSeq - 1)
    return true
  }

  /** Frees the oldest inflight message, so a window full of lost messages cannot stall streaming. */
  freeFirst(): void {
    const first = this.inflight.shift()
    if (first) this.inflightBytes -= first.bytes
  }

  #freeTo(seq: number): void {
    while (this.inflight.length > 0 && this.inflight[0]!.lastSeq <= seq) this.freeFirst()
  }
}
