/**
 * Runs every benchmark in bench/ one after another (they share this machine,
 * so never in parallel) and prints one JSON line per benchmark.
 *
 *   npm run bench              all of them
 *   npm run bench -- mesh      only those whose file name contains "mesh"
 */
import { execFile } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const filter = process.argv[2] ?? ''
const here = import.meta.dirname
const benches = (await readdir(here))
  .filter((f) => f.endsWith('.ts') && f !== 'run-all.ts' && f.includes(filter))
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
    console.log(JSON.stringify({ bench: file, error: (err as Error).message.split('\n')[0] }))
  }
}
process.exitCode = failed === 0 ? 0 : 1
