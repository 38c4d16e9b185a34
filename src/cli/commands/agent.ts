/**
 * `understudy agent`: the headless daemon (started at boot by config/understudy-agent.service).
 * SIGTERM and SIGINT shut it down gracefully; a second signal exits at once.
 */
import type { Command } from 'commander'
import { loadConfig } from '../../agent/config/index.ts'
import { createLogger } from '../../agent/observability/index.ts'

export function registerAgentCommand(program: Command) {
  program
    .command('agent')
    .description('run this machine’s agent: join the mesh, host replicas, serve the local control API')
    .option(
      '-c, --config <file>',
      'agent config file (default $UNDERSTUDY_CONFIG; see config/agent.example.json)',
    )
    .action(async (opts: { config?: string }) => {
      const config = await loadConfig(opts.config !== undefined ? { path: opts.config } : {})
      const log = createLogger({ level: config.log.level, format: config.log.format })
      const shutdown = new AbortController()
      let signals = 0
      const onSignal = (signal: NodeJS.Signals) => {
        if (++signals > 1) process.exit(130)
        log.info({ signal }, 'shutting down')
        shutdown.abort()
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      // Loaded only here: the other commands need none of the daemon (libp2p, level, ...).
      const { Agent } = await import('../../agent/agent.ts')
      const agent = await Agent.start(config, { logger: log })
      // Tests and supervisors read this line to learn where the agent is.
      process.stdout.isTTY ||
        process.stderr.write(
          `${JSON.stringify({ ready: true, peerId: agent.peerId, addrs: agent.node.getMultiaddrs().map(String), control: agent.controlAddress, metrics: agent.metricsUrl ?? null })}\n`,
        )
      await new Promise<void>((resolve) =>
        shutdown.signal.addEventListener('abort', () => resolve(), { once: true }),
      )
      await agent.stop()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    })
}
