/** `understudy stop NAME [--keep-data]`. */
import { apiAction, workloadCommand } from './command.ts'
import { AgentLink, type ConnectionFlags } from './connection.ts'

/** Every replica is told to stop and (by default) delete its log and checkpoints: give it time. */
const STOP_TIMEOUT_MS = 60_000

export function stopCommand() {
  return workloadCommand('stop', 'stop a workload on every replica', (c) =>
    c
      .argument('<name>', 'the workload')
      .option('--keep-data', "keep the replicas' logs and checkpoints (default: delete them)"),
  ).action(
    apiAction(async (name: string, flags: ConnectionFlags & { keepData?: boolean }) => {
      const link = await AgentLink.open(flags)
      const keepData = flags.keepData === true
      const stopped = await link.call((c) => c.stop(name, { keepData }, { timeoutMs: STOP_TIMEOUT_MS }))
      const data = keepData ? "replicas' data kept" : "replicas' data deleted"
      process.stdout.write(`${stopped.name}: ${stopped.state} (${data})\n`)
    }),
  )
}
