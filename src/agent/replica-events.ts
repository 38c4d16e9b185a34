/**
 * What a replica's events mean to the rest of the agent: control events for the CLI and the TUI,
 * Prometheus metrics, log lines, and the few reactions (following a new membership, dropping a
 * replica the group removed). Kept apart from the agent so the mapping reads in one place.
 */

import type { ControlEventBody } from '../control/api-types.ts'
import { DivergenceError } from '../errors/index.ts'
import type { Hosted } from './agent.ts'
import type { Logger, UnderstudyMetrics } from './observability/index.ts'
import type { ReplicaEvent, ReplicaMetrics } from './replica/replica.ts'

export interface ReplicaEventContext {
  peerId: string
  log: Logger
  metrics: UnderstudyMetrics
  publish(body: ControlEventBody): void
  /** The group's committed configuration changed: the hosted spec follows it. */
  followConfig(hosted: Hosted, members: readonly string[], learners: readonly string[]): Promise<void>
  unhost(name: string, keepData: boolean): Promise<boolean>
}

export function reportReplicaEvent(ctx: ReplicaEventContext, hosted: Hosted, event: ReplicaEvent): void {
  const workload = hosted.spec.name
  switch (event.type) {
    case 'election-started':
      if (!event.preVote) {
        ctx.publish({
          type: 'election',
          workload,
          candidate: ctx.peerId,
          epoch: event.epoch,
          outcome: 'started',
        })
      }
      ctx.log.info({ workload, ...event }, 'election started')
      return
    case 'role':
      ctx.log.info({ workload, role: event.role, epoch: event.epoch, leader: event.leader }, 'role changed')
      if (event.role === 'primary') {
        ctx.publish({
          type: 'election',
          workload,
          candidate: ctx.peerId,
          epoch: event.epoch,
          outcome: 'won',
        })
      }
      return
    case 'promoted': {
      const tookMs = (event.detectionMs ?? 0) + event.electionMs + event.promotionMs
      if (event.epoch > 1) {
        ctx.metrics.failovers.inc({ workload })
        const phase = (p: string, ms: number | undefined) =>
          ms !== undefined && ctx.metrics.failoverDuration.observe({ workload, phase: p }, ms / 1000)
        phase('detection', event.detectionMs)
        phase('election', event.electionMs)
        phase('promotion', event.promotionMs)
        phase('total', tookMs)
      }
      ctx.publish({
        type: 'promotion',
        workload,
        peerId: ctx.peerId,
        epoch: event.epoch,
        tookMs,
        detectionMs: event.detectionMs,
        electionMs: event.electionMs,
        promotionMs: event.promotionMs,
      })
      if (event.epoch > 1) {
        hosted.lastFailover = {
          at: Date.now(),
          from: undefined,
          to: ctx.peerId,
          epoch: event.epoch,
          tookMs,
          reason: event.drill ? 'drill' : 'failure',
        }
      }
      ctx.log.info({ workload, ...event }, 'promoted: the guest runs live here')
      return
    }
    case 'stepped-down':
      ctx.publish({
        type: 'step-down',
        workload,
        peerId: ctx.peerId,
        epoch: event.epoch,
        reason: event.reason,
      })
      ctx.log.warn({ workload, ...event }, 'stepped down')
      return
    case 'digest':
      if (!event.agree) {
        ctx.publish({
          type: 'divergence',
          workload,
          peerId: ctx.peerId,
          seq: event.seq,
          expected: event.expected,
          got: event.got,
        })
        ctx.log.error({ workload, ...event }, 'state digest differs from the primary’s')
      }
      return
    case 'machine-ended':
      if (event.end.kind === 'failed') {
        const err = event.end.error
        if (err instanceof DivergenceError) {
          ctx.publish({
            type: 'divergence',
            workload,
            peerId: ctx.peerId,
            seq: err.seq,
            expected: err.expected,
            got: err.got,
          })
        }
        ctx.publish({ type: 'workload', workload, state: 'failed', reason: event.end.error.message })
        ctx.log.error({ workload, err: event.end.error }, 'the guest failed')
      } else if (event.end.kind === 'exited') {
        ctx.publish({
          type: 'workload',
          workload,
          state: 'stopped',
          reason: `guest ended: ${event.end.outcome}`,
        })
      }
      return
    case 'config-changed':
      if (event.committed) {
        void ctx
          .followConfig(hosted, event.members, event.learners)
          .catch((err: unknown) => ctx.log.error({ err, workload }, 'could not store the new membership'))
      }
      ctx.log.info({ workload, ...event }, 'group membership changed')
      return
    case 'removed':
      ctx.log.warn({ workload }, 'this replica was removed from its group (replaced by repair); dropping it')
      ctx.publish({
        type: 'repair',
        workload,
        peerId: ctx.peerId,
        phase: 'done',
        reason: 'removed from the group',
      })
      setTimeout(() => void ctx.unhost(workload, false).catch(() => {}), 1000).unref()
      return
    case 'checkpoint':
      ctx.log.debug({ workload, seq: event.seq, bytes: event.bytes }, 'checkpoint taken, log compacted')
      return
    case 'checkpoint-failed':
      ctx.log.warn({ workload, seq: event.seq, err: event.error }, 'checkpoint failed; the log is kept')
      return
    case 'failed':
      ctx.publish({ type: 'workload', workload, state: 'failed', reason: event.error.message })
      ctx.log.error({ workload, err: event.error }, 'replica failed')
      return
  }
}

/** Where one workload's replica reports what it measures: the agent's Prometheus metrics. */
export function replicaMetrics(m: UnderstudyMetrics, workload: string): ReplicaMetrics {
  return {
    appended: (n) => m.entriesAppended.inc({ workload }, n),
    committed: (latencies) => {
      m.entriesCommitted.inc({ workload }, latencies.length)
      for (const l of latencies) m.commitLatency.observe({ workload }, l)
    },
    lag: (member, entries, seconds) => {
      m.shadowLagEntries.set({ workload, member }, entries)
      m.shadowLagSeconds.set({ workload, member }, seconds)
    },
  }
}
