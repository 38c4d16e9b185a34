/**
 * The conductor of `understudy demo`: runs the steps (demo-script.ts) under one signal (the caller's,
 * or the timeout), then always cleans up, whatever happened: every agent process killed and the temp
 * directory removed, both checked.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DemoRun, play } from './demo-script.ts'
import { reasonOf } from './format.ts'
import type { CleanupSummary, DemoOptions, DemoSummary } from './index.ts'

const DEFAULT_TIMEOUT_MS = 120_000
/** Lines of each agent's own log shown when a step fails (not when interrupted). */
const LOG_TAIL_LINES = 6

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const started = performance.now()
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const timeout = AbortSignal.timeout(timeoutMs)
  // Aborted once the steps end, so no stream, wait or retry of theirs outlives them.
  const finished = new AbortController()
  const signals = [timeout, finished.signal, ...(options.signal ? [options.signal] : [])]
  const tempDir = await mkdtemp(join(tmpdir(), 'understudy-demo-'))
  const run: DemoRun = {
    write: options.write,
    signal: AbortSignal.any(signals),
    tempDir,
    step: 'starting',
    summary: {},
    cluster: undefined,
    pids: [],
  }
  // If this process dies before cleanup (an uncaught error elsewhere), its agents must not outlive it.
  const killOnExit = () => {
    for (const a of run.cluster?.agents ?? []) a.process.kill('SIGKILL')
  }
  process.once('exit', killOnExit)
  let error: string | undefined
  try {
    await play(run)
  } catch (err) {
    error = options.signal?.aborted
      ? `interrupted (while ${run.step}): ${reasonOf(options.signal.reason)}`
      : timeout.aborted
        ? `the demo did not finish within ${timeoutMs / 1000} s (while ${run.step})`
        : `${run.step} failed: ${reasonOf(err)}`
    if (!options.signal?.aborted) writeLogTails(run)
  } finally {
    finished.abort()
  }
  const cleanup = await cleanUp(run)
  process.off('exit', killOnExit)
  options.write('')
  options.write(
    `Cleaned up: ${cleanup.pids.length} agent process(es) ${cleanup.allExited ? 'gone' : 'STILL RUNNING'}, ` +
      `${cleanup.tempDirRemoved ? 'temp directory removed' : `${tempDir} NOT removed`}.`,
  )
  if (error === undefined && !(cleanup.allExited && cleanup.tempDirRemoved)) error = 'cleanup failed'
  if (error === undefined && run.summary.check?.lost !== 0) error = 'the check after the failover did not run'
  return {
    ok: error === undefined,
    ...(error !== undefined ? { error } : {}),
    durationMs: Math.round(performance.now() - started),
    ...run.summary,
    cleanup,
  }
}

/** Kills every agent still running, removes the temp directory, and checks that both really happened. */
async function cleanUp(run: DemoRun): Promise<CleanupSummary> {
  await run.cluster?.close().catch(() => undefined)
  await rm(run.tempDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }).catch(
    () => undefined,
  )
  return {
    tempDir: run.tempDir,
    tempDirRemoved: !existsSync(run.tempDir),
    pids: run.pids,
    allExited: run.pids.every((pid) => !alive(pid)),
  }
}

function writeLogTails(run: DemoRun): void {
  for (const agent of run.cluster?.agents ?? []) {
    const lines = agent.output.join('').trimEnd().split('\n').slice(-LOG_TAIL_LINES)
    run.write(`--- the last lines agent ${agent.site} logged:`)
    for (const line of lines) run.write(`    ${line}`)
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
