/** `understudy explain NAME`: every candidate peer of the last placement, chosen or not, and why. */
import type { Explanation } from '../../../control/index.ts'
import { apiAction, workloadCommand } from './command.ts'
import { AgentLink, type ConnectionFlags } from './connection.ts'
import { formatDuration } from './format.ts'

export function explainCommand() {
  return workloadCommand(
    'explain',
    'say which peers were chosen to host a workload, and why the others were not',
    (c) => c.argument('<name>', 'the workload').option('--json', 'print the raw API response'),
  ).action(
    apiAction(async (name: string, flags: ConnectionFlags & { json?: boolean }) => {
      const link = await AgentLink.open(flags)
      const explanation = await link.call((c) => c.explain(name))
      process.stdout.write(
        flags.json ? `${JSON.stringify(explanation, null, 2)}\n` : formatExplanation(explanation, Date.now()),
      )
    }),
  )
}

/** The chosen peers first, each with its reasons, one per line. */
export function formatExplanation(e: Explanation, now: number): string {
  const ago = formatDuration(Math.max(0, now - e.decidedAt))
  const lines = [`${e.name}: ${e.summary} (decided ${new Date(e.decidedAt).toISOString()}, ${ago} ago)`]
  const ordered = [...e.candidates.filter((c) => c.chosen), ...e.candidates.filter((c) => !c.chosen)]
  for (const c of ordered) {
    const where = [`site ${c.site}`, ...(c.org === undefined ? [] : [`org ${c.org}`])].join(', ')
    const as = c.chosen && c.role !== undefined ? ` as ${c.role}` : ''
    lines.push(`${c.chosen ? 'chosen' : 'not chosen'}${as}: ${c.peerId} (${where})`)
    for (const reason of c.reasons) lines.push(`  - ${reason}`)
  }
  if (e.candidates.length === 0) lines.push('no candidate peers were known')
  return `${lines.join('\n')}\n`
}
