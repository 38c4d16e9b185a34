/** `understudy status`: the local agent in a few lines. */
import type { AgentStatus } from '../../../control/index.ts'
import { apiAction, workloadCommand } from './command.ts'
import { AgentLink, type ConnectionFlags } from './connection.ts'
import { formatDuration, plural } from './format.ts'

export function statusCommand() {
  return workloadCommand('status', 'show the local agent: its peer id, site, peers and workloads', (c) =>
    c.option('--json', 'print the raw API response'),
  ).action(
    apiAction(async (flags: ConnectionFlags & { json?: boolean }) => {
      const link = await AgentLink.open(flags)
      const status = await link.call((c) => c.status())
      process.stdout.write(
        flags.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status, link.target.label),
      )
    }),
  )
}

export function formatStatus(s: AgentStatus, address: string): string {
  return [
    `agent ${s.peerId}`,
    `  site ${s.site}${s.org === undefined ? '' : `, org ${s.org}`}, version ${s.version}`,
    `  up ${formatDuration(s.uptimeMs)}, ${plural(s.peers, 'peer')} connected, hosting ${plural(s.workloads, 'workload')}`,
    `  control API on ${address}`,
    '',
  ].join('\n')
}
