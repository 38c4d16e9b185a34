/** `understudy failover NAME [--to PEER]`: a drill, handing the primary role over on purpose. */
import type { ControlClient, WorkloadDetail } from '../../../control/index.ts'
import { UsageError } from '../../../errors/index.ts'
import { apiAction, workloadCommand } from './command.ts'
import { AgentLink, type ConnectionFlags } from './connection.ts'
import { shortPeerId } from './format.ts'

/** An election and a promotion, on a loaded mesh: more than a plain call. */
const FAILOVER_TIMEOUT_MS = 60_000

export function failoverCommand() {
  return workloadCommand('failover', 'hand the primary role to a shadow on purpose (a failover drill)', (c) =>
    c
      .argument('<name>', 'the workload')
      .option('--to <peer>', 'the shadow to promote: its peer id, or a unique part of it as `ps` shows it'),
  ).action(
    apiAction(async (name: string, flags: ConnectionFlags & { to?: string }) => {
      const link = await AgentLink.open(flags)
      const to = flags.to === undefined ? undefined : await link.call((c) => resolvePeer(c, name, flags.to!))
      const done = await link.call((c) =>
        c.failover(name, to === undefined ? {} : { to }, { timeoutMs: FAILOVER_TIMEOUT_MS }),
      )
      process.stdout.write(
        `${done.name}: primary ${shortPeerId(done.from)} → ${shortPeerId(done.to)}, ` +
          `epoch ${done.epoch}, took ${done.tookMs} ms\n`,
      )
    }),
  )
}

/** A full peer id from what the user typed: the id itself, or a unique part of a replica's id (`…a1B2c3`). */
async function resolvePeer(client: ControlClient, name: string, given: string): Promise<string> {
  const detail: WorkloadDetail = await client.workload(name)
  const ids = detail.replicas.map((r) => r.peerId)
  if (ids.includes(given)) return given
  const part = given.replace(/^…/, '')
  const matches = ids.filter((id) => id.includes(part))
  if (matches.length === 1) return matches[0]!
  if (matches.length > 1) {
    throw new UsageError(`--to ${given} matches ${matches.length} replicas of ${name}: ${matches.join(', ')}`)
  }
  // Not a replica: the agent decides (and says why it refuses).
  return given
}
