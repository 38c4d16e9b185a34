/**
 * The `understudy` command line. Each subcommand lives in src/cli/commands/ and
 * registers itself on the commander program; `main` maps typed errors to exit
 * codes and one clear line on stderr.
 */
import { Command, CommanderError } from 'commander'
import { UnderstudyError } from '../errors/index.ts'
import { registerAgentCommand } from './commands/agent.ts'
import { registerDemoCommand } from './commands/demo.ts'
import { keysCommand } from './commands/keys.ts'
import { registerMachineCommands } from './commands/machine.ts'
import { manifestCommand } from './commands/manifest.ts'
import { tuiCommand } from './commands/tui.ts'
import { workloadCommands } from './commands/workloads.ts'
import { EXIT_FAILURE } from './exit-codes.ts'
import { version } from './version.ts'

export { EXIT_FAILURE }

export function buildProgram(): Command {
  const program = new Command('understudy')
    .description('Replicated, deterministic WebAssembly VMs on the idle desktops of a libp2p mesh')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
  registerMachineCommands(program)
  registerAgentCommand(program)
  for (const command of workloadCommands()) program.addCommand(command)
  program.addCommand(keysCommand())
  program.addCommand(manifestCommand())
  program.addCommand(tuiCommand())
  registerDemoCommand(program)
  return program
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv, { from: 'user' })
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; usage errors were already printed by commander
      return err.exitCode === 0 ? 0 : 2
    }
    if (err instanceof UnderstudyError) {
      process.stderr.write(`understudy: ${err.message} [${err.code}]\n`)
      return EXIT_FAILURE
    }
    throw err
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2))
}
