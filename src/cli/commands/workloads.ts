/**
 * The workload commands: run, ps, stop, failover, logs, send (stdin), explain, status, peers. They
 * talk to the local agent only through its control API (src/control); each finds the agent
 * the same way (see workloads/connection.ts). main.ts adds them with `program.addCommand`.
 */
import type { Command } from 'commander'
import { explainCommand } from './workloads/explain.ts'
import { failoverCommand } from './workloads/failover.ts'
import { logsCommand } from './workloads/logs.ts'
import { peersCommand } from './workloads/peers.ts'
import { psCommand } from './workloads/ps.ts'
import { runCommand } from './workloads/run.ts'
import { sendCommand } from './workloads/send.ts'
import { statusCommand } from './workloads/status.ts'
import { stopCommand } from './workloads/stop.ts'

export { type ConnectionFlags, type ControlTarget, resolveControlTarget } from './workloads/connection.ts'

/** One fresh Command per call, in the order `--help` lists them. */
export function workloadCommands(): Command[] {
  return [
    runCommand(),
    psCommand(),
    stopCommand(),
    failoverCommand(),
    logsCommand(),
    sendCommand(),
    explainCommand(),
    statusCommand(),
    peersCommand(),
  ]
}
