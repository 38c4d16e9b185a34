/**
 * `understudy demo`: the README's first screen. Nothing to configure: three real agents run on
 * 127.0.0.1 with their own temp directories, and everything is removed afterwards, also on Ctrl-C.
 */
import { type Command, InvalidArgumentError } from 'commander'
import { DemoError, runDemo } from '../../demo/index.ts'

/** Exit code when the demo was interrupted by a signal (128 + SIGINT). */
const EXIT_INTERRUPTED = 130

export function registerDemoCommand(program: Command) {
  program
    .command('demo')
    .description(
      'start three local agents, replicate a kv guest, kill its primary: a shadow takes over and nothing acknowledged is lost',
    )
    .option('--json', 'print a JSON summary on stdout (the account goes to stderr)')
    .option('--timeout <seconds>', 'give up after this long', parseSeconds, 120)
    .action(async (opts: { json?: boolean; timeout: number }) => {
      const out = opts.json ? process.stderr : process.stdout
      const interrupt = new AbortController()
      // Kept for the whole run (not once): a second Ctrl-C must not kill the demo before it cleaned up.
      const onSignal = (signal: NodeJS.Signals) => {
        if (interrupt.signal.aborted) out.write('understudy demo: still cleaning up…\n')
        else interrupt.abort(new DemoError(`received ${signal}`))
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      try {
        const summary = await runDemo({
          write: (line) => out.write(`${line}\n`),
          signal: interrupt.signal,
          timeoutMs: opts.timeout * 1000,
        })
        out.write(
          summary.ok
            ? `Done in ${(summary.durationMs / 1000).toFixed(1)} s.\n`
            : `understudy demo failed: ${summary.error}\n`,
        )
        if (opts.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
        process.exitCode = summary.ok ? 0 : interrupt.signal.aborted ? EXIT_INTERRUPTED : 1
      } finally {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
      }
    })
}

function parseSeconds(value: string): number {
  const seconds = Number(value)
  if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError('a number of seconds above 0')
  return seconds
}
