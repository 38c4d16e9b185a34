/**
 * `understudy demo`: the README's first screen. Nothing to configure; everything
 * runs on 127.0.0.1 and is removed afterwards, also on Ctrl-C.
 */
import { type Command, InvalidArgumentError } from 'commander'
import { DemoError, runDemo } from '../../demo/index.ts'

/** Exit code when the demo was interrupted by a signal (128 + SIGINT). */
const EXIT_INTERRUPTED = 130

export function registerDemoCommand(program: Command) {
  program
    .command('demo')
    .description(
      'run three local agents, replicate a kv guest, kill the primary: nothing acknowledged is lost',
    )
    .option('--json', 'print a JSON summary on stdout (the account goes to stderr)')
    .option('--timeout <seconds>', 'give up after this long', parseSeconds, 60)
    .action(async (opts: { json?: boolean; timeout: number }) => {
      const out = opts.json ? process.stderr : process.stdout
      const interrupt = new AbortController()
      const onSignal = (signal: NodeJS.Signals) => interrupt.abort(new DemoError(`received ${signal}`))
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
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
