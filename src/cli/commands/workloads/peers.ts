/** `understudy peers [--json]`: the agents this one knows, and what each offers. */
import type { PeerInfo } from '../../../control/index.ts'
import { apiAction, workloadCommand } from './command.ts'
import { AgentLink, type ConnectionFlags } from './connection.ts'
import { formatMiB, shortPeerId } from './format.ts'
import { type Column, outputWidth, renderTable } from './table.ts'

const COLUMNS: Column[] = [
  { header: 'PEER' },
  { header: 'SITE', minWidth: 6 },
  { header: 'ORG', minWidth: 5 },
  { header: 'STATE' },
  { header: 'CPUS', align: 'right' },
  { header: 'FREE/MEM', align: 'right' },
  { header: 'RTT', align: 'right' },
  { header: 'HOSTING', minWidth: 7 },
]

export function peersCommand() {
  return workloadCommand(
    'peers',
    'list the peers this agent knows: site, state, capacity, what they host',
    (c) => c.option('--json', 'print the raw API response'),
  ).action(
    apiAction(async (flags: ConnectionFlags & { json?: boolean }) => {
      const link = await AgentLink.open(flags)
      const peers = await link.call((c) => c.peers())
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ peers }, null, 2)}\n`)
        return
      }
      process.stdout.write(formatPeers(peers, outputWidth()))
    }),
  )
}

/** This agent is marked with `*`; idle peers (owner away) are where replicas prefer to go. */
export function formatPeers(peers: readonly PeerInfo[], width: number): string {
  if (peers.length === 0) return 'no peers known yet\n'
  const rows = peers.map((p) => [
    `${p.self ? '*' : ' '}${shortPeerId(p.peerId)}`,
    p.site,
    p.org ?? '-',
    p.state,
    String(p.capacity.cpus),
    `${formatMiB(p.capacity.freeMemoryMiB)}/${formatMiB(p.capacity.memoryMiB)}`,
    p.rttMs === null ? '-' : `${p.rttMs.toFixed(1)}ms`,
    p.hosting.length === 0 ? '-' : p.hosting.join(','),
  ])
  return `${renderTable(COLUMNS, rows, width).join('\n')}\n`
}
