/**
 * The conductor of `understudy demo`: starts the agents, plays the client, reads
 * every figure back from the agents themselves, kills the primary, and always
 * cleans up (agents stopped, temp directory removed), whatever happened.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentProcess } from './agent-process.ts'
import { CLIENT_SCRIPT } from './client-script.ts'
import { DemoError } from './demo-error.ts'
import type {
  AgentSummary,
  CleanupSummary,
  DemoOptions,
  DemoSummary,
  KilledSummary,
  RequestSummary,
  ShadowSummary,
} from './index.ts'
import type { PeerView, ShadowProgress } from './messages.ts'

const LOG_ID = 'kv'
const DEFAULT_TIMEOUT_MS = 60_000
/** Discovery, then the shadows' replay, must settle within these. */
const DISCOVERY_MS = 20_000
const REPLAY_MS = 15_000

interface Step {
  name: string
}

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const started = performance.now()
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
  const tempDir = await mkdtemp(join(tmpdir(), 'understudy-demo-'))
  const agents: AgentProcess[] = []
  const summary: Omit<DemoSummary, 'cleanup' | 'durationMs'> = { ok: false }
  const step: Step = { name: 'starting' }
  try {
    await play(options.write, signal, tempDir, agents, summary, step)
    summary.ok = true
  } catch (err) {
    summary.error = timeout.aborted
      ? `the demo did not finish within ${timeoutMs / 1000} s (while ${step.name})`
      : options.signal?.aborted
        ? `interrupted (while ${step.name}): ${reasonOf(options.signal.reason)}`
        : `${step.name} failed: ${err instanceof Error ? err.message : String(err)}`
  }
  const cleanup = await cleanUp(agents, tempDir)
  options.write('')
  options.write(
    `Cleaned up: ${agents.length} agent process(es) ${cleanup.allExited ? 'gone' : 'STILL RUNNING'}, ` +
      `${cleanup.tempDirRemoved ? 'temp directory removed' : `${tempDir} NOT removed`}.`,
  )
  if (summary.ok && !(cleanup.allExited && cleanup.tempDirRemoved)) {
    summary.ok = false
    summary.error = 'cleanup failed'
  }
  return { ...summary, durationMs: Math.round(performance.now() - started), cleanup }
}

async function play(
  write: (line: string) => void,
  signal: AbortSignal,
  tempDir: string,
  agents: AgentProcess[],
  summary: Omit<DemoSummary, 'cleanup' | 'durationMs'>,
  step: Step,
): Promise<void> {
  write('understudy demo: a kv service replicated over a libp2p mesh on 127.0.0.1')
  write('')

  step.name = 'building the kv guest'
  const imagePath = await buildKvGuest()
  signal.throwIfAborted()

  step.name = 'starting the agents'
  write('1. Three agents, each a separate process with its own data directory and')
  write('   identity, bootstrapping from the first one:')
  // Every process is in `agents` from the moment it exists, so cleanup finds it whatever happens next.
  const start = (name: string, site: string, bootstrap?: string) => {
    const agent = AgentProcess.start({
      name,
      site,
      dataDir: join(tempDir, site),
      ...(bootstrap !== undefined ? { bootstrap } : {}),
    })
    agents.push(agent)
    return agent
  }
  const a = start('agent-a', 'site-a')
  await a.ready(signal)
  const seed = a.addrs[0]
  if (seed === undefined) throw new DemoError('agent-a listens on no address')
  const b = start('agent-b', 'site-b', seed)
  const c = start('agent-c', 'site-c', seed)
  await Promise.all([b.ready(signal), c.ready(signal)])
  for (const agent of agents) {
    write(
      `   ${agent.name}  ${agent.site}  peer ${short(agent.peerId)}  pid ${agent.pid}  ${port(agent.addrs)}`,
    )
  }

  step.name = 'discovering peers'
  const sees = await discover(agents, signal)
  write('')
  write('   Each agent lists the others through the status protocol:')
  for (const agent of agents) {
    const seen = (sees.get(agent) ?? []).map((p) => `${p.site} ${short(p.peerId)} (${p.via})`)
    write(`   ${agent.site} sees ${seen.join(', ')}`)
  }
  summary.agents = agents.map((agent, i) => ({
    name: agent.name,
    site: agent.site,
    role: i === 0 ? 'primary' : 'shadow',
    peerId: agent.peerId,
    pid: agent.pid,
    identityCreated: agent.identityCreated,
    sees: sees.get(agent) ?? [],
  })) satisfies AgentSummary[]

  step.name = 'starting the primary and the shadows'
  await Promise.all([b, c].map((s) => s.call('shadow', { logId: LOG_ID, imagePath }, signal)))
  await a.call('primary', { logId: LOG_ID, imagePath, shadows: [b.peerId, c.peerId] }, signal)
  write('')
  write('2. site-a runs the kv guest live and records it; the log streams to site-b')
  write('   and site-c. A reply is released to the client only once both shadows')
  write('   have stored the entry that produced it (seq = that entry):')

  step.name = 'the client session'
  const requests: RequestSummary[] = []
  for (const { request, expected } of CLIENT_SCRIPT) {
    const { reply, seq, hash } = await a.call('request', { line: request }, signal)
    requests.push({ request, expected, reply, seq, hash })
    const mark = reply === expected ? '' : `  (expected ${expected})`
    write(`   > ${cut(request, 32).padEnd(32)} < ${cut(reply, 24).padEnd(24)} seq ${seq}${mark}`)
  }
  summary.requests = requests
  const wrong = requests.filter((r) => r.reply !== r.expected)
  if (wrong.length > 0) {
    throw new DemoError(`${wrong.length} replies differ from the expected ones, first: ${wrong[0]?.request}`)
  }
  const primary = await a.call('finish', {}, signal)
  summary.primary = { ...primary, name: a.name, site: a.site }
  write(`   end of input: the guest exited (${primary.outcome}) after ${primary.entries} log entries`)

  step.name = 'waiting for the shadows to replay'
  const progress = await waitForReplay([b, c], signal)
  const shadows: ShadowSummary[] = [b, c].map((agent, i) => {
    const p = progress[i] as ShadowProgress
    return {
      name: agent.name,
      site: agent.site,
      stored: p.stored,
      replayed: p.replayed,
      digest: p.digest ?? '',
      outcome: p.outcome ?? '',
      sameDigestAsPrimary: p.digest === primary.digest,
    }
  })
  summary.shadows = shadows
  write('')
  write('3. Each shadow replayed the committed log as it arrived:')
  write('')
  write(`   ${row(['agent', 'site', 'role', 'stored', 'replayed', 'final digest', 'same'])}`)
  write(
    `   ${row([a.name, a.site, 'primary', primary.entries, primary.entries, primary.digest.slice(0, 16), '-'])}`,
  )
  for (const s of shadows) {
    write(
      `   ${row([s.name, s.site, 'shadow', s.stored, s.replayed, s.digest.slice(0, 16), s.sameDigestAsPrimary ? 'yes' : 'NO'])}`,
    )
  }
  const diverged = shadows.filter((s) => !s.sameDigestAsPrimary || s.replayed !== primary.entries)
  if (diverged.length > 0) {
    throw new DemoError(`${diverged.map((s) => s.site).join(' and ')} did not end in the primary's state`)
  }

  step.name = 'killing the primary'
  const last = requests.at(-1) as RequestSummary
  write('')
  write(`4. SIGKILL the primary (${a.name}, pid ${a.pid}). The client was last answered`)
  write(`   at seq ${last.seq}, log hash ${last.hash.slice(0, 16)}…; each shadow re-reads its log`)
  write('   from its own disk:')
  await a.kill()
  const killed: KilledSummary = {
    pid: a.pid,
    signal: 'SIGKILL',
    acknowledgedSeq: last.seq,
    acknowledgedHash: last.hash,
    shadows: [],
  }
  for (const agent of [b, c]) {
    const stored = await agent.call('verify', { seq: last.seq }, signal)
    const holdsAcknowledged = stored.chainIntact && stored.hashAt === last.hash
    const holdsWholeLog =
      stored.chainIntact && stored.stored === primary.entries && stored.lastHash === primary.lastHash
    killed.shadows.push({
      name: agent.name,
      site: agent.site,
      stored: stored.stored,
      chainIntact: stored.chainIntact,
      ...(stored.hashAt !== undefined ? { hashAtAcknowledged: stored.hashAt } : {}),
      holdsAcknowledged,
      holdsWholeLog,
    })
    write(
      `   ${agent.site}: ${stored.stored} entries, chain ${stored.chainIntact ? 'intact' : 'BROKEN'}, ` +
        `acknowledged prefix ${holdsAcknowledged ? 'held' : 'MISSING'}, whole log ${holdsWholeLog ? 'held' : 'NOT held'}`,
    )
  }
  summary.afterKill = killed
  const lost = killed.shadows.filter((s) => !s.holdsAcknowledged)
  if (lost.length > 0) {
    throw new DemoError(`${lost.map((s) => s.site).join(' and ')} lost acknowledged entries`)
  }
  write('   Nothing the client was told is lost: both shadows hold it.')
  write('   Not shown yet: a shadow electing itself and going live. The election')
  write('   protocol exists (src/agent/group); running it across processes comes')
  write('   with the replica-groups issue.')
}

/** Asks every agent whom it sees until each lists the other two. */
async function discover(agents: AgentProcess[], signal: AbortSignal): Promise<Map<AgentProcess, PeerView[]>> {
  const deadline = Date.now() + DISCOVERY_MS
  for (;;) {
    const lists = await Promise.all(agents.map((agent) => agent.call('peers', { timeoutMs: 2000 }, signal)))
    const sees = new Map(agents.map((agent, i) => [agent, lists[i] ?? []]))
    const complete = agents.every((agent) =>
      agents.every((other) => other === agent || sees.get(agent)?.some((p) => p.peerId === other.peerId)),
    )
    if (complete) return sees
    if (Date.now() > deadline) {
      const views = agents.map((agent) => `${agent.site} sees ${(sees.get(agent) ?? []).map((p) => p.site)}`)
      throw new DemoError(`the agents did not all find each other within ${DISCOVERY_MS / 1000} s: ${views}`)
    }
    await sleep(250, signal)
  }
}

/** Polls the shadows until both replays ended (or one failed). */
async function waitForReplay(shadows: AgentProcess[], signal: AbortSignal): Promise<ShadowProgress[]> {
  const deadline = Date.now() + REPLAY_MS
  for (;;) {
    const progress = await Promise.all(shadows.map((s) => s.call('progress', {}, signal)))
    const failed = progress.findIndex((p) => p.error !== undefined)
    if (failed >= 0) {
      throw new DemoError(`${shadows[failed]?.site}'s replay failed: ${progress[failed]?.error}`)
    }
    if (progress.every((p) => p.done)) return progress
    if (Date.now() > deadline) {
      const where = progress.map((p, i) => `${shadows[i]?.site} replayed ${p.replayed}/${p.stored}`)
      throw new DemoError(`the shadows did not finish replaying within ${REPLAY_MS / 1000} s: ${where}`)
    }
    await sleep(50, signal)
  }
}

/** Stops every agent still running, removes the temp directory, and checks both really happened. */
async function cleanUp(agents: AgentProcess[], tempDir: string): Promise<CleanupSummary> {
  await Promise.all(agents.map((agent) => agent.stop()))
  await rm(tempDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
  return {
    tempDir,
    tempDirRemoved: !(await exists(tempDir)),
    pids: agents.map((agent) => agent.pid),
    allExited: agents.every((agent) => !alive(agent.pid)),
  }
}

/**
 * The kv guest, built through the project's cached guest builder. It lives in
 * scripts/ (outside src/, so outside the build's rootDir): imported at run time.
 */
async function buildKvGuest(): Promise<string> {
  const builder = new URL('../../scripts/build-guests.ts', import.meta.url).href
  const { buildGuest } = (await import(builder)) as { buildGuest(name: 'kv'): Promise<string> }
  return buildGuest('kv')
}

/** Widths of the table's columns; the counts (3 and 4) are right-aligned. */
const COLUMNS = [9, 8, 9, 8, 10, 19, 5]
const NUMERIC = new Set([3, 4])

function row(cells: (string | number)[]): string {
  return cells
    .map((cell, i) => {
      const width = COLUMNS[i] ?? 8
      const text = cut(String(cell), width - 1)
      return NUMERIC.has(i) ? `${text.padStart(width - 2)}  ` : text.padEnd(width)
    })
    .join('')
    .trimEnd()
}

function reasonOf(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason)
}

function short(peerId: string): string {
  return `${peerId.slice(0, 4)}…${peerId.slice(-6)}`
}

function port(addrs: string[]): string {
  return addrs[0]?.replace(/\/p2p\/.*$/, '') ?? 'no address'
}

function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`
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

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
