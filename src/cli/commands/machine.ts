/**
 * The machine's commands, shaped like `wasmtime run`: record a guest live,
 * replay a recording and check it, checkpoint at an entry, restore from a
 * checkpoint.
 */
import type { Command } from 'commander'
import { Option } from 'commander'
import { UsageError } from '../../errors/index.ts'
import { ReadableInput } from '../../replay/readable-input.ts'
import type { DirMapping, SessionResult } from '../../replay/session.ts'
import { recordSession, replaySession } from '../../replay/session.ts'
import type { Outcome } from '../../replay/types.ts'

/** The exit code for a guest that trapped or overflowed its stack (as wasmtime reports a trap). */
const EXIT_TRAP = 134
/** `understudy replay` when the replay diverged from the recording. */
const EXIT_DIVERGED = 1

export function registerMachineCommands(program: Command) {
  program
    .command('record')
    .description('run a WASI module live and record every nondeterministic input into a log')
    .argument('<image>', 'the WebAssembly module (WASI preview 1)')
    .argument('[args...]', 'arguments for the guest (after --)')
    .requiredOption('--log <file>', 'the log file to write')
    .option('--dir <host::guest>', 'copy a host directory into the guest at a path (repeatable)', collect, [])
    .option('--env <key=value>', 'set an environment variable for the guest (repeatable)', collect, [])
    .addOption(checkpointAtOption())
    .option('--checkpoint <file>', 'where to write the checkpoint asked for by --checkpoint-at')
    .option('--cache <dir>', 'cache of instrumented modules')
    .action(async (image: string, args: string[], opts: MachineFlags & { dir: string[]; env: string[] }) => {
      const result = await recordSession({
        imagePath: image,
        logPath: opts.log,
        args: [image, ...args],
        env: opts.env.map(parseEnv),
        dirs: opts.dir.map(parseDir),
        ...checkpointRequest(opts),
        ...stdio(),
        ...(opts.cache ? { cacheDir: opts.cache } : {}),
      })
      report(result, 'recorded')
      process.exitCode = exitCodeOf(result.outcome)
    })

  program
    .command('replay')
    .description(
      'replay a recorded log and check it: exits 0 only if output, exit code and final state match',
    )
    .argument('<image>', 'the module the log was recorded with')
    .requiredOption('--log <file>', 'the recorded log')
    .option('--from <checkpoint>', 'start from a checkpoint instead of the beginning')
    .addOption(checkpointAtOption())
    .option('--checkpoint <file>', 'where to write the checkpoint asked for by --checkpoint-at')
    .option('--show-output', "print the guest's replayed output")
    .option('--cache <dir>', 'cache of instrumented modules')
    .action(async (image: string, opts: MachineFlags & { from?: string; showOutput?: boolean }) => {
      process.exitCode = await replayCommand(image, opts, opts.from)
    })

  program
    .command('checkpoint')
    .description('replay a log up to an entry and write a checkpoint of the machine there')
    .argument('<image>', 'the module the log was recorded with')
    .requiredOption('--log <file>', 'the recorded log')
    .requiredOption('--at <seq>', 'the entry to stop at (the first host call at or after it)', parseSeq)
    .requiredOption('--out <file>', 'the checkpoint file to write')
    .option('--cache <dir>', 'cache of instrumented modules')
    .action(async (image: string, opts: { log: string; at: number; out: string; cache?: string }) => {
      const result = await replaySession({
        imagePath: image,
        logPath: opts.log,
        checkpoint: { atSeq: opts.at, path: opts.out, stop: true },
        ...(opts.cache ? { cacheDir: opts.cache } : {}),
      })
      const cp = result.checkpoint!
      process.stderr.write(
        `understudy: checkpoint at entry ${cp.seq} written to ${cp.path} (${cp.bytes} bytes), state ${hex(cp.digest)}\n`,
      )
    })

  program
    .command('restore')
    .description('restore a checkpoint (in this new process) and replay the rest of the log, checking it')
    .argument('<checkpoint>', 'the checkpoint file')
    .argument('<image>', 'the module')
    .requiredOption('--log <file>', 'the recorded log')
    .option('--show-output', "print the guest's replayed output")
    .option('--cache <dir>', 'cache of instrumented modules')
    .action(async (checkpoint: string, image: string, opts: MachineFlags & { showOutput?: boolean }) => {
      process.exitCode = await replayCommand(image, opts, checkpoint)
    })
}

interface MachineFlags {
  log: string
  checkpointAt?: number
  checkpoint?: string
  cache?: string
  showOutput?: boolean
}

async function replayCommand(image: string, opts: MachineFlags, from: string | undefined): Promise<number> {
  try {
    const result = await replaySession({
      imagePath: image,
      logPath: opts.log,
      ...(from ? { from } : {}),
      ...checkpointRequest(opts),
      ...(opts.showOutput ? { stdout: writer(process.stdout), stderr: writer(process.stderr) } : {}),
      ...(opts.cache ? { cacheDir: opts.cache } : {}),
    })
    report(result, 'replayed')
    process.stdout.write(`${hex(result.digest)}\n`)
    return 0
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ERR_DIVERGENCE' || code === 'ERR_LOG_ENDED') {
      process.stderr.write(`understudy: replay diverged: ${(err as Error).message}\n`)
      return EXIT_DIVERGED
    }
    throw err
  }
}

function checkpointAtOption() {
  return new Option(
    '--checkpoint-at <seq>',
    'pause at the first host call at or after this entry and checkpoint',
  ).argParser(parseSeq)
}

function checkpointRequest(opts: MachineFlags) {
  if (opts.checkpointAt === undefined && opts.checkpoint === undefined) return {}
  if (opts.checkpointAt === undefined || opts.checkpoint === undefined) {
    throw new UsageError('--checkpoint-at and --checkpoint go together')
  }
  return { checkpoint: { atSeq: opts.checkpointAt, path: opts.checkpoint } }
}

function stdio() {
  return {
    stdin: new ReadableInput(process.stdin),
    stdout: writer(process.stdout),
    stderr: writer(process.stderr),
  }
}

function writer(stream: NodeJS.WriteStream) {
  return (bytes: Uint8Array) => {
    stream.write(bytes)
  }
}

function report(result: SessionResult, verb: string) {
  const outcome = result.outcome ? describeOutcome(result.outcome) : 'stopped'
  const cp = result.checkpoint
    ? `, checkpoint at entry ${result.checkpoint.seq} in ${result.checkpoint.path}`
    : ''
  process.stderr.write(
    `understudy: ${verb} ${result.entries} entries, ${outcome}, state ${hex(result.digest)}${cp}\n`,
  )
}

function describeOutcome(outcome: Outcome): string {
  switch (outcome.kind) {
    case 'exit':
      return `exit code ${outcome.code}`
    case 'trap':
      return `trap: ${outcome.message}`
    case 'stack-overflow':
      return 'stack overflow'
  }
}

function exitCodeOf(outcome: Outcome | undefined): number {
  if (outcome === undefined) return 0
  return outcome.kind === 'exit' ? outcome.code : EXIT_TRAP
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

function parseEnv(pair: string): [string, string] {
  const eq = pair.indexOf('=')
  if (eq <= 0) throw new UsageError(`--env takes KEY=VALUE, got "${pair}"`)
  return [pair.slice(0, eq), pair.slice(eq + 1)]
}

function parseDir(spec: string): DirMapping {
  const sep = spec.indexOf('::')
  if (sep < 0) return { hostDir: spec, guestPath: spec }
  const hostDir = spec.slice(0, sep)
  const guestPath = spec.slice(sep + 2)
  if (hostDir === '' || guestPath === '') throw new UsageError(`--dir takes HOSTDIR::GUESTDIR, got "${spec}"`)
  return { hostDir, guestPath }
}

function parseSeq(value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0)
    throw new UsageError(`expected an entry number (0 or more), got "${value}"`)
  return n
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}
