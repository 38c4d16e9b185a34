/**
 * Runs every benchmark in bench/ one after another (they share this machine,
 * so never in parallel) and prints one JSON line per benchmark.
 *
 *   npm run bench                        all of them but the replica-group ones
 *   npm run bench -- mesh                only those whose file name contains "mesh"
 *   npm run bench -- --groups            also the replica-group ones (failover, output-commit,
 *                                        shadow-lag): clusters of real agent processes, minutes each
 *   npm run bench -- --groups failover   only failover.ts
 *
 * The group-harness, group-writer and group-local-kv modules are their shared parts, never run.
 */
import { execFile } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
/** Real agent clusters at the default settings: slow, so only with --groups. */
const GROUP_BENCHES = new Set(['failover.ts', 'output-commit.ts', 'shadow-lag.ts'])
const NOT_BENCHES = new Set(['run-all.ts', 'group-harness.ts', 'group-writer.ts', 'group-local-kv.ts'])
const args = process.argv.slice(2)
const groups = args.includes('--groups')
const filter = args.find((a) => !a.startsWith('--')) ?? ''
const here = import.meta.dirname
const benches = (await readdir(here))
  .filter((f) => f.endsWith('.ts') && !NOT_BENCHES.has(f) && f.includes(filter))
  .filter((f) => groups || !GROUP_BENCHES.has(f))
  .sort()

let failed = 0
for (const file of benches) {
  const args = file === 'mesh-stream.ts' ? ['--expose-gc', join(here, file)] : [join(here, file)]
  try {
    const { stdout } = await run(process.execPath, args, {
      maxBuffer: 64 * 1024 * 1024,
      timeout: 15 * 60_000,
    })
    for (const line of stdout.split('\n').filter((l) => l.trim().startsWith('{'))) console.log(line.trim())
  } catch (err) {
    failed++
    // The bench's own error line (its stderr) says more than "Command failed".
    const stderr = (err as { stderr?: string }).stderr ?? ''
    const cause = stderr.split('\n').find((l) => /^\w*Error\b/.test(l))
    console.log(
      JSON.stringify({
        bench: file,
        error: (err as Error).message.split('\n')[0],
        ...(cause ? { cause } : {}),
      }),
    )
  }
}
process.exitCode = failed === 0 ? 0 : 1
