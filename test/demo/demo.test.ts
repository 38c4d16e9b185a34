/**
 * `understudy demo` on real agents, run as a user runs it (a child process, judged by its JSON summary
 * and by what it left behind), interrupted with SIGINT, and aborted in-process while its agents start.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import { type DemoSummary, runDemo } from '../../src/demo/index.ts'

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname

interface CliRun {
  code: number | null
  summary: DemoSummary
  stderr: string
}

/** Runs `understudy demo --json`; `onLine` sees each line of the account (stderr) as it comes. */
async function demoCli(onLine: (line: string, child: ChildProcess) => void = () => {}): Promise<CliRun> {
  const child = spawn(process.execPath, [MAIN, 'demo', '--json', '--timeout', '200'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  let partial = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
    const lines = (partial + chunk.toString()).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) onLine(line, child)
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (exitCode) => resolve(exitCode))
  })
  try {
    return { code, summary: JSON.parse(stdout) as DemoSummary, stderr }
  } catch (err) {
    throw new Error(`the demo printed no JSON summary (exit ${code}): ${stdout}\n${stderr}`, { cause: err })
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw err
  }
}

/** Agent processes whose parent is this process, read from /proc (so also ones the demo never reported). */
function agentChildren(): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (ppid === process.pid && cmdline.includes('agent')) found.push(Number(entry))
    } catch {
      // the process ended while we looked
    }
  }
  return found
}

test.serial('the demo fails over to a shadow in a newer epoch and loses no acknowledged write', async (t) => {
  t.timeout(240_000)
  const run = await demoCli()
  const s = run.summary
  t.is(s.error, undefined, run.stderr)
  t.true(s.ok)
  t.is(run.code, 0)

  const agents = s.agents ?? []
  t.deepEqual(
    agents.map((a) => a.site),
    ['site-a', 'site-b', 'site-c'],
  )
  t.is(new Set(agents.map((a) => a.peerId)).size, 3, 'three identities')
  t.is(new Set(agents.map((a) => a.pid)).size, 3, 'three processes')
  t.deepEqual(new Set(s.workload?.replicas.map((r) => r.site)).size, 3, 'replicas in three sites')
  t.is(s.workload?.replicas.filter((r) => r.role === 'primary').length, 1)
  t.is(s.writes?.beforeKill, 20)
  t.true((s.caughtUp?.shadows ?? []).every((r) => r.digest === 'agree'))

  const killed = s.killed
  const failover = s.failover
  if (killed === undefined || failover === undefined)
    return t.fail(`no failover in the summary\n${run.stderr}`)
  t.is(killed.peerId, s.workload?.primary ?? '', 'the primary was the one killed')
  t.false(alive(killed.pid))
  t.not(failover.newPrimary.peerId, killed.peerId)
  t.true(failover.epoch > killed.epoch, 'the epoch grew')
  for (const part of [failover.detectionMs, failover.electionMs, failover.promotionMs]) {
    t.is(typeof part, 'number', "the failover's parts come from the promotion event")
  }

  t.is(s.check?.keysChecked, 20)
  t.is(s.check?.keysFound, 20)
  t.is(s.check?.lost, 0)
  t.is(s.writes?.acknowledged, 25, 'the new primary took writes too')

  t.is(s.rejoined?.peerId, killed.peerId, 'the killed agent came back with its identity')
  t.is(s.rejoined?.role, 'shadow')
  t.true((s.rejoined?.epoch ?? 0) >= failover.epoch)

  t.is(s.cleanup.pids.length, 4, 'three agents and the restarted one')
  t.deepEqual(
    s.cleanup.pids.filter((pid) => alive(pid)),
    [],
  )
  t.true(s.cleanup.tempDir.includes('understudy-demo-'))
  t.false(existsSync(s.cleanup.tempDir))
})

test.serial('Ctrl-C in the middle of the demo kills every agent and removes its files', async (t) => {
  t.timeout(240_000)
  let sent = false
  const run = await demoCli((line, child) => {
    // Interrupt once writes are under way: the agents and the replicated guest are all up.
    if (!sent && line.includes('acknowledged in')) {
      sent = true
      child.kill('SIGINT')
    }
  })
  t.true(sent, run.stderr)
  t.log(`interrupted after ${run.summary.durationMs} ms`)
  t.is(run.code, 130)
  t.false(run.summary.ok)
  t.regex(run.summary.error ?? '', /interrupted .*SIGINT/)
  t.is(run.summary.cleanup.pids.length, 3)
  t.deepEqual(
    run.summary.cleanup.pids.filter((pid) => alive(pid)),
    [],
  )
  t.false(existsSync(run.summary.cleanup.tempDir))
})

test.serial('aborting the signal while the agents start leaves no process and no directory', async (t) => {
  t.timeout(120_000)
  const controller = new AbortController()
  let spawned = false
  const lines: string[] = []
  const watching = (async () => {
    // Abort as soon as the first agent process exists: mid-start, the hardest moment to clean up.
    while (!controller.signal.aborted) {
      if (agentChildren().length > 0) {
        spawned = true
        controller.abort(new Error('stop'))
      }
      await sleep(20)
    }
  })()
  const summary = await runDemo({ write: (line) => lines.push(line), signal: controller.signal })
  controller.abort(new Error('done'))
  await watching
  t.true(spawned, lines.join('\n'))
  t.false(summary.ok)
  t.regex(summary.error ?? '', /interrupted \(while starting the agents\)/)
  t.deepEqual(agentChildren(), [])
  t.true(summary.cleanup.tempDirRemoved)
  t.false(existsSync(summary.cleanup.tempDir))
})
