import { type MemberInit, MemoryStorage, ReplicaGroupMember } from '../../../src/agent/group/index.ts'
import { createPrng } from '../../../src/agent/group/prng.ts'
import type { GroupConfig, MemberId, Message, PersistedState, Ready } from '../../../src/agent/group/types.ts'

/** Drives single members by hand: the caller plays the network. */
export const CONFIG: Omit<GroupConfig, 'members'> = {
  heartbeatTicks: 1,
  electionTicks: 10,
  maxBatchEntries: 64,
  maxInflightBytes: 64 * 1024,
}

export function makeMember(
  id: MemberId,
  options: {
    members?: MemberId[]
    storage?: PersistedState
    config?: Partial<GroupConfig>
    epochStartData?: MemberInit['epochStartData']
  } = {},
): ReplicaGroupMember<number> {
  return new ReplicaGroupMember<number>({
    id,
    config: { ...CONFIG, members: options.members ?? ['a', 'b', 'c'], ...options.config },
    random: createPrng(42).next,
    storage: options.storage,
    epochStartData: options.epochStartData,
  })
}

/** Takes the member's Ready, persists it to `storage` when given, and advances. */
export function take(member: ReplicaGroupMember<number>, storage?: MemoryStorage): Ready<number> {
  const rd = member.ready()
  storage?.save(rd)
  member.advance(rd)
  return rd
}

export function ofType<T extends Message['type']>(
  rd: Ready<number>,
  type: T,
): Extract<Message, { type: T }>[] {
  return rd.messages.filter((m): m is Extract<Message, { type: T }> => m.type === type)
}

/** Ticks `member` until it asks for pre-votes, grants them and its votes from `voters`: it is primary. */
export function elect(
  member: ReplicaGroupMember<number>,
  voters: MemberId[],
  storage?: MemoryStorage,
): Ready<number> {
  for (let i = 0; i < 100 && member.status().role !== 'pre-candidate'; i++) member.tick()
  const pre = take(member, storage)
  const preVotes = ofType(pre, 'pre-vote')
  if (preVotes.length === 0) throw new Error('no pre-vote was sent')
  const epoch = preVotes[0]!.epoch
  for (const from of voters) {
    member.step({ type: 'pre-vote-response', from, to: member.id, epoch, granted: true })
  }
  take(member, storage)
  for (const from of voters) member.step({ type: 'vote-response', from, to: member.id, epoch, granted: true })
  if (member.status().role !== 'primary') throw new Error(`${member.id} did not win epoch ${epoch}`)
  return take(member, storage)
}

export { MemoryStorage }

export const bytes = (s: string) => new TextEncoder().encode(s)
