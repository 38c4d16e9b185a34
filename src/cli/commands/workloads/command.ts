/**
 * What every workload command shares: commander settings like the main program's, the connection
 * options, and how the agent's refusals are shown.
 */
import { Command } from 'commander'
import { ControlApiError } from '../../../errors/index.ts'
import { EXIT_FAILURE } from '../../exit-codes.ts'
import { withConnectionOptions } from './connection.ts'

export { EXIT_FAILURE }

/**
 * A subcommand behaving like those main.ts creates: usage errors throw (main maps them to exit 2)
 * instead of exiting, since commander does not pass these settings to commands added with addCommand.
 * `configure` adds the command's own arguments and options; the connection options come last.
 */
export function workloadCommand(
  name: string,
  description: string,
  configure: (c: Command) => Command,
): Command {
  const command = new Command(name)
    .description(description)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
  return withConnectionOptions(configure(command))
}

/**
 * Wraps an action so an error answer from the agent is printed as `error ERR_CODE: message` with the
 * agent's reasons, and the command exits with EXIT_FAILURE. Other errors go up to main().
 */
export function apiAction<A extends unknown[]>(
  fn: (...args: A) => Promise<void>,
  stderr: NodeJS.WritableStream = process.stderr,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args)
    } catch (err) {
      if (!(err instanceof ControlApiError)) throw err
      stderr.write(formatApiError(err))
      process.exitCode = EXIT_FAILURE
    }
  }
}

export function formatApiError(err: ControlApiError): string {
  return [`error ${err.code}: ${err.message}`, ...err.reasons.map((r) => `  - ${r}`)].join('\n') + '\n'
}
