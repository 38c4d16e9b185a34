/** One line of words for each control event, and how loud it should look. */
import type { ControlEvent } from './api.ts'
import { duration, shortId } from './format.ts'
import type { FeedItem } from './state.ts'

export type Tone = 'plain' | 'good' | 'notice' | 'warn' | 'bad'

export interface EventText {
  /** A short label for the feed's kind column. */
  kind: string
  text: string
  tone: Tone
}

export function describeEvent(e: FeedItem): EventText {
  switch (e.type) {
    case 'observed-primary':
      return {
        kind: 'failover',
        text: `${e.workload}: ${shortId(e.peerId)} is primary at epoch ${e.epoch} (was ${shortId(e.previous)})`,
        tone: 'good',
      }
    case 'election':
      return {
        kind: 'election',
        text:
          e.outcome === 'started'
            ? `${e.workload}: ${shortId(e.candidate)} stands for epoch ${e.epoch}`
            : `${e.workload}: ${shortId(e.candidate)} ${e.outcome} the election for epoch ${e.epoch}`,
        tone: 'notice',
      }
    case 'promotion': {
      const parts = [
        e.detectionMs !== undefined ? `detect ${duration(e.detectionMs)}` : undefined,
        e.electionMs !== undefined ? `elect ${duration(e.electionMs)}` : undefined,
        e.promotionMs !== undefined ? `promote ${duration(e.promotionMs)}` : undefined,
      ].filter((p) => p !== undefined)
      const split = parts.length > 0 ? ` (${parts.join(', ')})` : ''
      return {
        kind: 'promotion',
        text: `${e.workload}: ${shortId(e.peerId)} is primary at epoch ${e.epoch}, took ${duration(e.tookMs)}${split}`,
        tone: 'good',
      }
    }
    case 'step-down':
      return {
        kind: 'step-down',
        text: `${e.workload}: ${shortId(e.peerId)} stepped down at epoch ${e.epoch}: ${e.reason}`,
        tone: 'warn',
      }
    case 'repair': {
      const why = e.reason ? `: ${e.reason}` : ''
      const what = { started: 'repairing onto', done: 'repaired onto', failed: 'repair failed onto' }[e.phase]
      return {
        kind: 'repair',
        text: `${e.workload}: ${what} ${shortId(e.peerId)}${why}`,
        tone: e.phase === 'failed' ? 'bad' : e.phase === 'done' ? 'good' : 'notice',
      }
    }
    case 'policy-refusal': {
      const target = e.workload ? ` of ${e.workload}` : ''
      const reasons = e.reasons.length > 0 ? e.reasons.join('; ') : 'no reason given'
      return {
        kind: 'refused',
        text: `policy refused ${e.action}${target} by ${shortId(e.principal, 16)}: ${reasons}`,
        tone: 'warn',
      }
    }
    case 'divergence':
      return {
        kind: 'DIVERGED',
        text:
          `${e.workload}: ${shortId(e.peerId)} diverged at entry ${e.seq} ` +
          `(expected ${e.expected.slice(0, 12)}, got ${e.got.slice(0, 12)})`,
        tone: 'bad',
      }
    case 'workload':
      return {
        kind: 'workload',
        text: `${e.workload} is ${e.state}${e.reason ? `: ${e.reason}` : ''}`,
        tone:
          e.state === 'failed' ? 'bad' : e.state === 'degraded' || e.state === 'electing' ? 'warn' : 'plain',
      }
    case 'peer':
      return {
        kind: 'peer',
        text: `${shortId(e.peerId, 16)} ${e.state === 'joined' || e.state === 'left' ? e.state : `is ${e.state}`}`,
        tone: e.state === 'left' || e.state === 'unreachable' ? 'warn' : 'plain',
      }
  }
}

/** Events that change what the workloads table shows: worth a poll now rather than in a second. */
export function changesWorkloads(e: ControlEvent): boolean {
  return e.type !== 'policy-refusal' && e.type !== 'peer'
}
