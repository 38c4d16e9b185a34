/**
 * Repair, run by the primary's agent: a member that has not answered for longer than the grace period
 * is replaced. One step at a time, as the group protocol allows one membership change at a time:
 * first a new host joins as a learner (it catches up from a checkpoint and the log after it, and the
 * primary promotes it to voter), then the dead member is removed. The group never has fewer live
 * voters than it had, and a learner that dies while catching up is simply removed again.
 */
import type { MemberId } from '../group/types.ts'
import type { Replica } from '../replica/replica.ts'

export interface RepairActions {
  now(): number
  /** How long a member may stay silent before it is replaced (config replication.repairGraceMs). */
  graceMs: number
  /**
   * Finds a host for one more replica, not one of `exclude`, keeping the members in `keep`; undefined
   * when policy allows none.
   */
  place(
    exclude: readonly string[],
    keep: readonly string[],
  ): Promise<{ peerId: string; site: string } | undefined>
  /** Asks `peer` to start a replica that joins the group as a learner. */
  startJoiner(peer: string): Promise<void>
  report(phase: 'started' | 'done' | 'failed', peerId: string, reason: string): void
}

export class RepairMonitor {
  readonly #replica: Replica
  readonly #wanted: number
  readonly #actions: RepairActions
  /** When each member was last seen active by this primary. */
  readonly #lastActive = new Map<MemberId, number>()
  /** The member being replaced, and by whom. */
  #replacing: { dead: MemberId; joiner: MemberId | undefined } | undefined
  /** Members that asked to leave (their owner came back, a cap was hit): replaced as if gone. */
  readonly #leaving = new Set<MemberId>()
  #busy = false

  constructor(replica: Replica, replicasWanted: number, actions: RepairActions) {
    this.#replica = replica
    this.#wanted = replicasWanted
    this.#actions = actions
  }

  /** `member` asked to be replaced (it is alive, but its host no longer wants the replica). */
  evict(member: MemberId): void {
    this.#leaving.add(member)
  }

  /** One look at the group; does at most one step. Only acts while this replica is the primary. */
  async check(): Promise<void> {
    if (this.#busy) return
    const st = this.#replica.status()
    if (st.role !== 'primary') {
      this.#lastActive.clear()
      return
    }
    const now = this.#actions.now()
    for (const id of [...st.members, ...st.learners]) {
      if (id === st.id) continue
      const f = st.followers.find((x) => x.member === id)
      if (f?.recentActive || !this.#lastActive.has(id)) this.#lastActive.set(id, now)
    }
    if (st.transferringTo !== undefined || st.pendingConfigSeq !== undefined) return
    for (const id of this.#leaving)
      if (!st.members.includes(id) && !st.learners.includes(id)) this.#leaving.delete(id)
    const gone = (id: MemberId) =>
      this.#leaving.has(id) || now - (this.#lastActive.get(id) ?? now) >= this.#actions.graceMs
    this.#busy = true
    try {
      const deadLearner = st.learners.find(gone)
      if (deadLearner !== undefined) {
        this.#replica.removeMember(deadLearner)
        this.#actions.report('failed', deadLearner, 'the new member stopped answering while catching up')
        return
      }
      // A learner still catching up: the primary promotes it on its own.
      if (st.learners.length > 0) return
      const dead = st.members.find((id) => id !== st.id && gone(id))
      if (dead === undefined) {
        if (this.#replacing) {
          this.#actions.report('done', this.#replacing.joiner ?? '', `replaced ${this.#replacing.dead}`)
          this.#replacing = undefined
        }
        return
      }
      if (st.members.length <= this.#wanted) {
        const keep = st.members.filter((id) => id !== dead && !gone(id))
        const host = await this.#actions.place([...st.members, ...st.learners], keep)
        if (!host) {
          this.#actions.report('failed', dead, 'no agent that policy allows can take its place')
          return
        }
        this.#actions.report(
          'started',
          host.peerId,
          `${dead} has not answered for ${this.#actions.graceMs} ms`,
        )
        await this.#actions.startJoiner(host.peerId)
        this.#replica.addMember(host.peerId)
        this.#lastActive.set(host.peerId, now)
        this.#replacing = { dead, joiner: host.peerId }
      } else {
        this.#replica.removeMember(dead)
        this.#lastActive.delete(dead)
        this.#replacing ??= { dead, joiner: undefined }
      }
    } catch (err) {
      this.#actions.report('failed', '', (err as Error).message)
    } finally {
      this.#busy = false
    }
  }
}
