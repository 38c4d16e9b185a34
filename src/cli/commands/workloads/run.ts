/** `understudy run IMAGE --name N [--replicas R] [--env K=V]… [--manifest FILE] [--attach] [-- ARGS…]`. */
import { readFile, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { InvalidArgumentError } from 'commander'
import { type RunRequest, type WorkloadSummary, workloadNameSchema } from '../../../control/index.ts'
import { UsageError } from '../../../errors/index.ts'
import { apiAction, workloadCommand } from './command.ts'
import { AgentLink, type ConnectionFlags } from './connection.ts'
import { formatDuration, plural } from './format.ts'
import { followLogs } from './logs.ts'
import { interruptOnSignals } from './output.ts'

interface RunFlags extends ConnectionFlags {
  name: string
  replicas: number
  env?: Record<string, string>
  manifest?: string
  attach?: boolean
}

/** Placement may instrument a large module first (seconds per MB): wait longer than for other calls. */
const RUN_TIMEOUT_MS = 120_000

export function runCommand() {
  return workloadCommand(
    'run',
    'start a replicated workload: one primary and shadows on other machines',
    (c) =>
      c
        .argument('<image>', 'the WebAssembly module (WASI preview 1)')
        .argument('[args...]', 'arguments for the guest (after --)')
        .requiredOption('--name <name>', 'the workload name (a-z 0-9 . _ -)', parseName)
        .option('--replicas <n>', 'copies to keep: one primary and n-1 shadows (1-15)', parseReplicas, 3)
        .option('--env <key=value>', 'an environment variable for the guest (repeatable)', collectEnv)
        .option('--manifest <file>', "the owner-signed manifest carrying the workload's data policy")
        .option('--attach', 'then print its released output until Ctrl-C (the summary goes to stderr)'),
  ).action(
    apiAction(async (image: string, args: string[], flags: RunFlags) => {
      const request: RunRequest = {
        name: flags.name,
        image: await imagePath(image),
        replicas: flags.replicas,
        args,
        env: flags.env ?? {},
      }
      if (flags.manifest !== undefined) request.manifest = await manifestBase64(flags.manifest)
      const link = await AgentLink.open(flags)
      const { workload } = await link.call((c) => c.run(request, { timeoutMs: RUN_TIMEOUT_MS }))
      const out = flags.attach ? process.stderr : process.stdout
      out.write(describeStarted(workload))
      if (workload.replicas.length < workload.replicasWanted) process.stderr.write(shortfallWarning(workload))
      if (!flags.attach) return
      const interrupt = interruptOnSignals()
      try {
        await followLogs(link, workload.name, 0, interrupt.signal)
      } finally {
        interrupt.dispose()
      }
    }),
  )
}

/** The started workload: its state and each replica with its role and site. */
export function describeStarted(w: WorkloadSummary): string {
  const lines = [
    `${w.name}: ${w.state}, ${w.replicas.length} of ${plural(w.replicasWanted, 'replica')}, epoch ${w.epoch}`,
  ]
  const primaryFirst = [...w.replicas].sort(
    (a, b) => Number(b.peerId === w.primary) - Number(a.peerId === w.primary),
  )
  for (const r of primaryFirst) {
    const role = r.peerId === w.primary ? 'primary' : r.role
    lines.push(`  ${role.padEnd(8)} ${r.peerId}  site ${r.site}${r.reachable ? '' : '  (unreachable)'}`)
  }
  if (w.primary === undefined) lines.push('  no primary yet')
  if (w.uptimeMs > 0) lines.push(`  up ${formatDuration(w.uptimeMs)}`)
  return `${lines.join('\n')}\n`
}

function shortfallWarning(w: WorkloadSummary): string {
  return (
    `understudy: WARNING: only ${w.replicas.length} of ${w.replicasWanted} replicas of ${w.name} were placed, ` +
    `so it survives fewer machine failures than asked; see why with \`understudy explain ${w.name}\`\n`
  )
}

/** The absolute path the agent (on this machine) will read; a missing file is caught here. */
async function imagePath(image: string): Promise<string> {
  const path = resolve(image)
  const info = await stat(path).catch(() => undefined)
  if (!info?.isFile())
    throw new UsageError(`the image ${path} is not a file: give the path of a .wasm module`)
  return path
}

async function manifestBase64(file: string): Promise<string> {
  try {
    return (await readFile(resolve(file))).toString('base64')
  } catch (err) {
    throw new UsageError(`cannot read the manifest ${resolve(file)}: ${(err as Error).message}`)
  }
}

function parseName(value: string): string {
  const parsed = workloadNameSchema.safeParse(value)
  if (!parsed.success)
    throw new InvalidArgumentError(parsed.error.issues[0]?.message ?? 'not a workload name')
  return parsed.data
}

function parseReplicas(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 15) throw new InvalidArgumentError('a whole number from 1 to 15')
  return n
}

function collectEnv(pair: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = pair.indexOf('=')
  if (eq <= 0) throw new InvalidArgumentError(`KEY=VALUE, got "${pair}"`)
  return { ...previous, [pair.slice(0, eq)]: pair.slice(eq + 1) }
}
