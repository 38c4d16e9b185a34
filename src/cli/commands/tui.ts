/**
 * `understudy tui`: the terminal UI over the local agent's control API. It finds the agent the way
 * the workload commands do (--socket, --host/--port/--token-file, else the agent's config and
 * $UNDERSTUDY_CONTROL_SOCKET); main.ts adds it with `program.addCommand(tuiCommand())`.
 */
import { type Command, InvalidArgumentError } from 'commander'
import { runTui } from '../../tui/index.ts'
import { workloadCommand } from './workloads/command.ts'
import { type ConnectionFlags, resolveControlTarget } from './workloads/connection.ts'

export function tuiCommand(): Command {
  return workloadCommand(
    'tui',
    'watch and steer the mesh in a terminal UI: peers, workloads and replicas, live events, failover drills',
    (c) =>
      c
        .option('--interval <ms>', 'how often to poll the agent', parseInterval, 1_000)
        .addHelpText(
          'after',
          '\nKeys: tab panes, ↑↓/jk move, enter detail, esc back, f failover drill, s stop, e explain, ? help, q quit.',
        ),
  ).action(async (flags: ConnectionFlags & { interval: number }) => {
    const target = await resolveControlTarget(flags)
    const closed = new AbortController()
    const onSignal = () => closed.abort()
    process.once('SIGTERM', onSignal)
    process.once('SIGHUP', onSignal)
    try {
      await runTui({
        address: target.address,
        pollMs: flags.interval,
        signal: closed.signal,
      })
    } finally {
      process.off('SIGTERM', onSignal)
      process.off('SIGHUP', onSignal)
    }
  })
}

function parseInterval(value: string): number {
  const ms = Number(value)
  if (!Number.isInteger(ms) || ms < 100 || ms > 60_000) {
    throw new InvalidArgumentError('milliseconds from 100 to 60000')
  }
  return ms
}
