/**
 * The rules of single-member configuration changes (Ongaro's thesis §4.1), as pure functions. Adding
 * or removing one voter at a time keeps every majority of the old configuration overlapping every
 * majority of the new one, so the two can never elect or commit apart.
 */
import { MembershipChangeError } from '../../errors/index.ts'
import { membershipProblem } from './membership-codec.ts'
import type { Checkpoint, MemberId, Membership } from './types.ts'

/** The size of a majority of `voters` voting members. */
export function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1
}

/** Whether `id` is in `m` at all (voter or learner). */
export function hasMember(m: Membership, id: MemberId): boolean {
  return m.members.includes(id) || m.learners.includes(id)
}

export function sameMembership(a: Membership, b: Membership): boolean {
  return sameList(a.members, b.members) && sameList(a.learners, b.learners)
}

/** The configuration a checkpoint carries, if it carries one. */
export function membershipOf(checkpoint: Checkpoint | undefined): Membership | undefined {
  if (!checkpoint?.members) return undefined
  return { members: [...checkpoint.members], learners: [...(checkpoint.learners ?? [])] }
}

/**
 * The configuration after changing `current` into one whose members and learners are exactly
 * `target`: one id added (as a learner: it must catch up before it counts) or one removed (voter or
 * learner). Anything else, or a change that would leave no voter, is an invalid MembershipChangeError.
 */
export function planChange(
  current: Membership,
  target: readonly MemberId[],
): { next: Membership; added?: MemberId; removed?: MemberId } {
  const wanted = new Set(target)
  if (wanted.size !== target.length) throw invalid(`the list ${target.join(', ')} names a member twice`)
  const now = [...current.members, ...current.learners]
  const added = target.filter((id) => !now.includes(id))
  const removed = now.filter((id) => !wanted.has(id))
  if (added.length + removed.length !== 1) {
    const diff = [...added.map((id) => `+${id}`), ...removed.map((id) => `-${id}`)]
    throw invalid(
      diff.length === 0
        ? 'the list is the current configuration: nothing to change'
        : `one member may be added or removed at a time, this would change ${diff.join(' ')}`,
    )
  }
  let next: Membership
  if (added[0] !== undefined) {
    next = { members: [...current.members], learners: [...current.learners, added[0]] }
  } else {
    const gone = removed[0]!
    next = {
      members: current.members.filter((id) => id !== gone),
      learners: current.learners.filter((id) => id !== gone),
    }
  }
  const problem = membershipProblem(next)
  if (problem) throw invalid(`the resulting configuration is not valid: ${problem}`)
  return { next, added: added[0], removed: removed[0] }
}

/** `learner` becomes a voter. */
export function promote(current: Membership, learner: MemberId): Membership {
  return {
    members: [...current.members, learner],
    learners: current.learners.filter((id) => id !== learner),
  }
}

function invalid(message: string): MembershipChangeError {
  return new MembershipChangeError('invalid', message)
}

function sameList(a: readonly MemberId[], b: readonly MemberId[]): boolean {
  return a.length === b.length && a.every((id, i) => b[i] === id)
}
