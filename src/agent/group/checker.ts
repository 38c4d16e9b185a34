import type { GroupEvent, MemberId } from './types.ts'

/**
 * A replica group's history, as a simulation (or a fault test) records it, and the safety properties
 * judged from it alone, Jepsen-style. `time` is the recorder's clock; `data` and `state` are
 * fingerprints (hex) of an entry's bytes and of the machine's state after applying it.
 */
export type HistoryEvent =
  | {
      type: 'became-primary'
      time: number
      member: MemberId
      epoch: number
      /** The new primary's log when it took office (after its checkpoint). */
      log: { seq: number; epoch: number; data: string }[]
      checkpointSeq: number
    }
  | { type: 'commit'; time: number; member: MemberId; commitSeq: number }
  | {
      type: 'apply'
      time: number
      member: MemberId
      seq: number
      epoch: number
      data: string
      state: string
      /** The member's durable commit seq when it applied. */
      commitSeq: number
    }
  /** The member's machine was rebuilt from a checkpoint taken after `seq`. */
  | { type: 'restore'; time: number; member: MemberId; seq: number; state: string }
  | { type: 'proposed'; time: number; member: MemberId; id: number; seq: number; epoch: number; data: string }
  | { type: 'released'; time: number; member: MemberId; id: number; seq: number; epoch: number }
  | { type: 'crash' | 'restart'; time: number; member: MemberId }
  | { type: 'fault'; time: number; what: string }
  /** Any other event a member reported in a Ready (not judged, kept for tests and diagnosis). */
  | { type: 'event'; time: number; member: MemberId; event: GroupEvent }

export type Property =
  | 'one-primary-per-epoch'
  | 'log-agreement'
  | 'released-output-durable'
  | 'commit-monotonic'
  | 'applied-within-commit'
  | 'state-agreement'
  | 'removed-member-quiet'

export interface Violation {
  property: Property
  time: number
  message: string
}

/**
 * Checks:
 * (a) at most one primary per epoch;
 * (b) every member applies the same entry (epoch and bytes) at each seq, in seq order without gaps,
 *     and reaches the same state after it;
 * (c) every released output's entry was proposed as released, was applied (committed) by the member
 *     that released it before the release, and is in the log of every primary of a later epoch;
 * (d) a member's durable commit seq never goes backwards, across restarts too;
 * (e) a member applies only entries at or below its durable commit seq;
 * (f) a member that reported 'removed' neither starts an election nor becomes primary until it reports
 *     a configuration that has it again.
 *
 * Config entries are entries like any other here: (b) makes every member agree on each configuration,
 * and (c) holds across membership changes (a new member that becomes primary must hold the output's
 * entry too).
 */
export function checkHistory(history: readonly HistoryEvent[]): Violation[] {
  const violations: Violation[] = []
  const fail = (property: Property, time: number, message: string) =>
    violations.push({ property, time, message })

  const primaries = new Map<number, MemberId>()
  const committed = new Map<number, { epoch: number; data: string; member: MemberId }>()
  const states = new Map<number, string>()
  const commitOf = new Map<MemberId, number>()
  const appliedOf = new Map<MemberId, number>()
  const appliedEntries = new Map<MemberId, Map<number, string>>()
  const proposals = new Map<number, { seq: number; epoch: number; data: string }>()
  const released: { time: number; member: MemberId; id: number; seq: number; epoch: number }[] = []
  const elections: Extract<HistoryEvent, { type: 'became-primary' }>[] = []
  const removed = new Set<MemberId>()

  for (const ev of history) {
    switch (ev.type) {
      case 'became-primary': {
        const other = primaries.get(ev.epoch)
        if (other !== undefined && other !== ev.member) {
          fail(
            'one-primary-per-epoch',
            ev.time,
            `${other} and ${ev.member} were both primary in epoch ${ev.epoch}`,
          )
        }
        primaries.set(ev.epoch, ev.member)
        elections.push(ev)
        if (removed.has(ev.member)) {
          fail(
            'removed-member-quiet',
            ev.time,
            `${ev.member} became primary of epoch ${ev.epoch} after its removal`,
          )
        }
        break
      }
      case 'commit': {
        const before = commitOf.get(ev.member) ?? 0
        if (ev.commitSeq < before) {
          fail(
            'commit-monotonic',
            ev.time,
            `${ev.member}'s commit seq went from ${before} back to ${ev.commitSeq}`,
          )
        }
        commitOf.set(ev.member, Math.max(before, ev.commitSeq))
        break
      }
      case 'apply': {
        const commit = Math.max(commitOf.get(ev.member) ?? 0, ev.commitSeq)
        if (ev.seq > commit) {
          fail('applied-within-commit', ev.time, `${ev.member} applied ${ev.seq} with commit seq ${commit}`)
        }
        const expected = (appliedOf.get(ev.member) ?? 0) + 1
        if (ev.seq !== expected) {
          fail('log-agreement', ev.time, `${ev.member} applied ${ev.seq} where ${expected} was next`)
        }
        appliedOf.set(ev.member, ev.seq)
        const key = `${ev.epoch}:${ev.data}`
        const mine = appliedEntries.get(ev.member) ?? new Map<number, string>()
        appliedEntries.set(ev.member, mine)
        mine.set(ev.seq, key)
        const first = committed.get(ev.seq)
        if (!first) committed.set(ev.seq, { epoch: ev.epoch, data: ev.data, member: ev.member })
        else if (first.epoch !== ev.epoch || first.data !== ev.data) {
          fail(
            'log-agreement',
            ev.time,
            `seq ${ev.seq}: ${first.member} applied epoch ${first.epoch} ${first.data}, ${ev.member} applied epoch ${ev.epoch} ${ev.data}`,
          )
        }
        checkState(ev.seq, ev.state, ev.member, ev.time)
        break
      }
      case 'restore':
        appliedOf.set(ev.member, ev.seq)
        appliedEntries.get(ev.member)?.clear()
        if (ev.seq > 0) checkState(ev.seq, ev.state, ev.member, ev.time)
        break
      case 'proposed':
        proposals.set(ev.id, { seq: ev.seq, epoch: ev.epoch, data: ev.data })
        break
      case 'released': {
        released.push(ev)
        const p = proposals.get(ev.id)
        if (!p || p.seq !== ev.seq || p.epoch !== ev.epoch) {
          fail(
            'released-output-durable',
            ev.time,
            `output ${ev.id} released for ${ev.epoch}:${ev.seq}, not as proposed`,
          )
          break
        }
        const applied = appliedEntries.get(ev.member)?.get(ev.seq)
        if (applied !== `${p.epoch}:${p.data}`) {
          fail(
            'released-output-durable',
            ev.time,
            `${ev.member} released output ${ev.id} before committing its entry`,
          )
        }
        break
      }
      case 'crash':
        break
      case 'restart':
        break
      case 'fault':
        break
      case 'event': {
        const e = ev.event
        if (e.type === 'removed') removed.add(ev.member)
        else if (e.type === 'config-changed') {
          if (e.members.includes(ev.member) || e.learners.includes(ev.member)) removed.delete(ev.member)
        } else if (e.type === 'election-started' && removed.has(ev.member)) {
          fail(
            'removed-member-quiet',
            ev.time,
            `${ev.member} started an election for epoch ${e.epoch} after its removal`,
          )
        }
        break
      }
    }
  }

  // Nothing a client saw may be lost: every primary of a later epoch holds the entry.
  for (const r of released) {
    const p = proposals.get(r.id)
    if (!p) continue
    for (const e of elections) {
      if (e.epoch <= r.epoch || r.seq <= e.checkpointSeq) continue
      const held = e.log.find((x) => x.seq === r.seq)
      if (!held || held.epoch !== p.epoch || held.data !== p.data) {
        fail(
          'released-output-durable',
          e.time,
          `output ${r.id} (entry ${p.epoch}:${r.seq}) is missing from the log of ${e.member}, primary of epoch ${e.epoch}`,
        )
      }
    }
  }
  return violations

  function checkState(seq: number, state: string, member: MemberId, time: number): void {
    const seen = states.get(seq)
    if (seen === undefined) states.set(seq, state)
    else if (seen !== state)
      fail('state-agreement', time, `${member}'s state after ${seq} differs from another member's`)
  }
}
