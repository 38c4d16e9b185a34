/** `understudy demo` run as a user runs it: a real child process, judged by its JSON summary and by what it left behind. */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import test from 'ava'
import { CLIENT_SCRIPT } from '../../src/demo/client-script.ts'
import type { DemoSummary } from '../../src/demo/index.ts'

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname

interface Run {
  code: number | null
  summary: DemoSummary
  stderr: string
}

async function runDemo(): Promise<Run> {
  const child = spawn(process.execPath, [MAIN, 'demo', '--json', '--timeout', '45'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (exitCode) => resolve(exitCode))
  })
  let summary: DemoSummary
  try {
    summary = JSON.parse(stdout) as DemoSummary
  } catch (err) {
    throw new Error(`the demo printed no JSON summary (exit ${code}): ${stdout}\n${stderr}`, { cause: err })
  }
  return { code, summary, stderr }
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

const run = await runDemo()

test('the demo exits 0 and reports success', (t) => {
  t.is(run.summary.error, undefined, run.stderr)
  t.true(run.summary.ok)
  t.is(run.code, 0)
  t.log(`the demo took ${run.summary.durationMs} ms`)
})

test('three agents in separate processes each list the other two, by site', (t) => {
  const agents = run.summary.agents ?? []
  t.deepEqual(
    agents.map((a) => [a.site, a.role]),
    [
      ['site-a', 'primary'],
      ['site-b', 'shadow'],
      ['site-c', 'shadow'],
    ],
  )
  t.is(new Set(agents.map((a) => a.pid)).size, 3, 'three distinct processes')
  t.false(agents.some((a) => a.pid === process.pid))
  for (const agent of agents) {
    const others = agents.filter((o) => o !== agent)
    t.deepEqual(
      agent.sees.map((p) => [p.peerId, p.site]).sort(),
      others.map((o) => [o.peerId, o.site]).sort(),
      `${agent.site} sees the other two`,
    )
  }
})

test("the client's replies are exactly what the kv protocol answers, released in log order", (t) => {
  const requests = run.summary.requests ?? []
  t.deepEqual(
    requests.map((r) => [r.request, r.reply]),
    CLIENT_SCRIPT.map((s) => [s.request, s.expected]),
  )
  t.true(
    requests.every((r, i) => i === 0 || r.seq > (requests[i - 1]?.seq ?? Infinity)),
    'each reply comes from a later log entry',
  )
})

test("both shadows stored and replayed every entry and ended in the primary's state", (t) => {
  const primary = run.summary.primary
  if (primary === undefined) return t.fail('no primary in the summary')
  t.is(primary.outcome, 'code 0')
  t.is(primary.ackedByAll, primary.entries)
  t.regex(primary.digest, /^[0-9a-f]{64}$/)
  const shadows = run.summary.shadows ?? []
  t.is(shadows.length, 2)
  for (const shadow of shadows) {
    t.is(shadow.stored, primary.entries, `${shadow.site} stored`)
    t.is(shadow.replayed, primary.entries, `${shadow.site} replayed`)
    t.is(shadow.digest, primary.digest, `${shadow.site} digest`)
    t.is(shadow.outcome, primary.outcome)
    t.true(shadow.sameDigestAsPrimary)
  }
})

test('after the primary is SIGKILLed both shadows hold, on disk, every entry the client was answered from', (t) => {
  const killed = run.summary.afterKill
  const last = run.summary.requests?.at(-1)
  if (killed === undefined || last === undefined) return t.fail('no kill in the summary')
  t.is(run.summary.agents?.[0]?.pid, killed.pid)
  t.false(alive(killed.pid))
  t.is(killed.acknowledgedSeq, last.seq)
  t.is(killed.acknowledgedHash, last.hash)
  t.is(killed.shadows.length, 2)
  for (const shadow of killed.shadows) {
    t.true(shadow.chainIntact, shadow.site)
    t.true(shadow.stored > killed.acknowledgedSeq, shadow.site)
    t.is(shadow.hashAtAcknowledged, last.hash, `${shadow.site} holds the acknowledged prefix`)
    t.true(shadow.holdsAcknowledged)
    t.true(shadow.holdsWholeLog)
  }
})

test('no agent process and no temp directory is left behind', (t) => {
  const { cleanup } = run.summary
  t.is(cleanup.pids.length, 3)
  t.deepEqual(
    cleanup.pids.filter((pid) => alive(pid)),
    [],
  )
  t.true(cleanup.tempDir.includes('understudy-demo-'))
  t.false(existsSync(cleanup.tempDir))
  t.true(cleanup.allExited && cleanup.tempDirRemoved)
})
