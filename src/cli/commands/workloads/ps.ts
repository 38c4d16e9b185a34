/** `understudy ps [--json]`: one line per workload, fitted to the terminal (80 columns when piped). */
import type { WorkloadSummary } from '../../../control/index.ts'
import { apiAction, workloadCommand } from './command.ts'
import { AgentLink, type ConnectionFlags } from './connection.ts'
import { formatDuration, shortPeerId } from './format.ts'
import { type Column, outputWidth, renderTable } from './table.ts'

const COLUMNS: Column[] = [
  { header: 'NAME', minWidth: 8 },
  { header: 'STATE' },
  { header: 'REPL', align: 'right' },
  { header: 'PRIMARY', minWidth: 10 },
  { header: 'EPOCH', align: 'right' },
  { header: 'SEQ', align: 'right' },
  { header: 'LAG', align: 'right' },
  { header: 'UP', align: 'right' },
  { header: 'FAILOVER', align: 'right' },
]

export function psCommand() {
  return workloadCommand('ps', 'list the workloads this agent knows, with their replicas and lag', (c) =>
    c.option('--json', 'print the raw API response'),
  ).action(
    apiAction(async (flags: ConnectionFlags & { json?: boolean }) => {
      const link = await AgentLink.open(flags)
      const workloads = await link.call((c) => c.workloads())
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ workloads }, null, 2)}\n`)
        return
      }
      process.stdout.write(formatWorkloads(workloads, outputWidth()))
    }),
  )
}

/**
 * The table: replicas up/wanted, primary as short peer id and site, the committed seq, the worst
 * shadow's lag (entries and time), uptime, and how long the last failover took.
 */
export function formatWorkloads(workloads: readonly WorkloadSummary[], width: number): string {
  if (workloads.length === 0) return 'no workloads (start one with `understudy run IMAGE --name NAME`)\n'
  const rows = workloads.map((w) => {
    const up = w.replicas.filter((r) => r.reachable).length
    const primary = w.replicas.find((r) => r.peerId === w.primary)
    return [
      w.name,
      w.state,
      `${up}/${w.replicasWanted}`,
      w.primary === undefined ? '-' : `${shortPeerId(w.primary)} ${primary?.site ?? '?'}`,
      String(w.epoch),
      String(w.committedSeq),
      maxLag(w),
      formatDuration(w.uptimeMs),
      w.lastFailover ? formatDuration(w.lastFailover.tookMs) : '-',
    ]
  })
  return `${renderTable(COLUMNS, rows, width).join('\n')}\n`
}

/** The furthest-behind shadow: `12e 340ms`; '-' when nothing is known. */
function maxLag(w: WorkloadSummary): string {
  const entries = w.replicas.flatMap((r) => (r.lagEntries === null ? [] : [r.lagEntries]))
  const times = w.replicas.flatMap((r) => (r.lagMs === null ? [] : [r.lagMs]))
  const parts: string[] = []
  if (entries.length > 0) parts.push(`${Math.max(...entries)}e`)
  if (times.length > 0) parts.push(formatDuration(Math.max(...times)))
  return parts.length === 0 ? '-' : parts.join(' ')
}
