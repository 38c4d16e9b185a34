/**
 * The fault lab itself, on real namespaces, veths, nftables and TCP (root only): a 3-site lab shared by
 * the serial tests, plus labs in child processes for the clean-up paths.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import test, { type ExecutionContext } from 'ava'
import { IP, labSupport, NFT, netnsList, runSync } from './lab/commands.ts'
import { formatSchedule, generateSchedule, networkActions, runSchedule, seedFrom } from './lab/nemesis.ts'
import { cleanupStale, createLab, type Lab } from './lab/netns.ts'
import type { Probe } from './lab/probe-client.ts'

const support = labSupport()
if (!support.ok) console.log(`fault lab tests skipped: ${support.reason}`)
const serial = support.ok ? test.serial : test.serial.skip
const parallel = support.ok ? test : test.skip

const PORT = 7000
/** Long enough that a connect that can succeed does (proxy + a noisy machine), short enough to wait out. */
const BLOCKED_MS = 1500
const seed = seedFrom([], process.env)

let lab: Lab | undefined
const probes: Record<string, Probe> = {}

test.before(async () => {
  if (!support.ok) return
  cleanupStale('us')
  lab = await createLab({ sites: 3, seed })
  await Promise.all(
    lab.sites.map(async (site) => {
      const probe = await lab!.probe(site)
      await probe.listen(PORT, { echo: true })
      await lab!.addressFor(site, PORT)
      probes[site] = probe
    }),
  )
})

test.after.always(async () => {
  await lab?.close()
})

function the(): Lab {
  if (!lab) throw new Error('the lab was not built')
  return lab
}

/** An end-to-end connect from one site to another through the proxy; true if the greeting came. */
async function reaches(from: string, to: string, timeoutMs = BLOCKED_MS): Promise<boolean> {
  const result = await probes[from]!.connect(the().proxyHost(to), PORT, timeoutMs)
  if (result.connected) await probes[from]!.close(result.conn)
  return result.connected
}

function faultTables(site: string): string {
  const ns = the().plan.sites.find((s) => s.name === site)!.namespace
  return runSync(IP, ['netns', 'exec', ns, NFT, 'list', 'tables'])
}

function logSeed(t: ExecutionContext): void {
  t.log(`lab seed ${seed} (rerun with UNDERSTUDY_SEED=${seed})`)
}

serial(
  'TCP between two sites goes through the proxy, and a site cannot reach another directly',
  async (t) => {
    logSeed(t)
    const accepted = probes.s1!.accepted(PORT)
    const via = await probes.s0!.connect(the().proxyHost('s1'), PORT, 10_000)
    t.true(via.connected, JSON.stringify(via))
    // The far site sees the caller as the caller's proxy alias: what the partition rules match on.
    t.is((await accepted).remote, the().proxyHost('s0'))
    t.is(await the().addressFor('s1', PORT), `/ip4/${the().proxyHost('s1')}/tcp/${PORT}`)
    t.is(the().listenAddressFor('s1', PORT), `/ip4/${the().siteHost('s1')}/tcp/${PORT}`)

    const direct = await probes.s0!.connect(the().siteHost('s1'), PORT, BLOCKED_MS)
    t.false(direct.connected, 'the direct path must be refused')
  },
)

serial('the proxy adds the configured delay in each direction', async (t) => {
  const lab = the()
  const conn = await probes.s0!.connect(lab.proxyHost('s1'), PORT, 10_000)
  if (!conn.connected) return t.fail(conn.error)
  try {
    const before = await probes.s0!.rtt(conn.conn, 3)
    await lab.setLink('s0', 's1', { delayMs: 60, jitterMs: 10 })
    await lab.setLink('s1', 's0', { delayMs: 60, jitterMs: 10 })
    const after = await probes.s0!.rtt(conn.conn, 8)
    t.log(
      `round trip before ${Math.min(...before).toFixed(1)} ms, with 2×60±10 ms: ${after.map((x) => x.toFixed(0)).join(' ')}`,
    )
    // Each direction holds every chunk at least delay - jitter = 50 ms; upper bounds are left to bench/.
    t.true(Math.min(...after) >= 0.8 * 120, `smallest round trip ${Math.min(...after)} ms`)
  } finally {
    await lab.setLink(undefined, undefined, { delayMs: 0, jitterMs: 0 })
    await probes.s0!.close(conn.conn)
  }
})

serial(
  'a partition blocks connects both ways across it, not within a side; heal restores them',
  async (t) => {
    const lab = the()
    await lab.partition([['s0'], ['s1', 's2']])
    t.regex(faultTables('s0'), /understudy_lab\b/)
    const [s0s1, s1s0, s1s2, s2s1] = await Promise.all([
      reaches('s0', 's1'),
      reaches('s1', 's0'),
      reaches('s1', 's2', 10_000),
      reaches('s2', 's1', 10_000),
    ])
    t.deepEqual({ s0s1, s1s0, s1s2, s2s1 }, { s0s1: false, s1s0: false, s1s2: true, s2s1: true })

    await lab.heal()
    t.deepEqual(lab.cuts(), [])
    for (const site of lab.sites) t.notRegex(faultTables(site), /understudy_lab\b/)
    t.deepEqual(await Promise.all([reaches('s0', 's1', 10_000), reaches('s1', 's0', 10_000)]), [true, true])
  },
)

serial('an established connection stalls while its site is isolated and resumes after heal', async (t) => {
  const lab = the()
  const accepted = probes.s1!.accepted(PORT)
  const conn = await probes.s0!.connect(lab.proxyHost('s1'), PORT, 10_000)
  if (!conn.connected) return t.fail(conn.error)
  const server = (await accepted).conn
  try {
    await lab.isolate('s1')
    await probes.s0!.send(conn.conn, 'during')
    // A refused connect takes BLOCKED_MS: time enough for the line to have crossed, had it been able to.
    t.false(await reaches('s0', 's1'))
    t.false(probes.s1!.lines(server).includes('during'))
    await lab.heal()
    await probes.s1!.waitForLine(server, 'during', 30_000) // TCP retransmits it
    t.pass()
  } finally {
    await lab.heal()
    await probes.s0!.close(conn.conn)
  }
})

serial(
  'a one-way cut drops what one site sends to another, while the other direction still arrives',
  async (t) => {
    const lab = the()
    const accepted = probes.s1!.accepted(PORT)
    const conn = await probes.s0!.connect(lab.proxyHost('s1'), PORT, 10_000)
    if (!conn.connected) return t.fail(conn.error)
    const server = (await accepted).conn
    try {
      await lab.cutOneWay('s0', 's1')
      // TCP needs both directions for a handshake, so the cut shows on an established flow: s1's line
      // reaches s0 (s0's acks are what gets dropped), s0's never reaches s1.
      await probes.s0!.send(conn.conn, 'forward')
      await probes.s1!.send(server, 'backward')
      await probes.s0!.waitForLine(conn.conn, 'backward', 10_000)
      t.false(await reaches('s0', 's1'))
      t.false(probes.s1!.lines(server).includes('forward'))
      await lab.heal()
      await probes.s1!.waitForLine(server, 'forward', 30_000)
      t.pass()
    } finally {
      await lab.heal()
      await probes.s0!.close(conn.conn)
    }
  },
)

serial('a link with resetRate 1 resets a connection at its next chunk', async (t) => {
  const lab = the()
  const conn = await probes.s2!.connect(lab.proxyHost('s0'), PORT, 10_000)
  if (!conn.connected) return t.fail(conn.error)
  try {
    await lab.setLink('s2', 's0', { resetRate: 1 })
    await probes.s2!.send(conn.conn, 'doomed')
    await waitUntil(() => probes.s2!.isClosed(conn.conn), 'the reset to reach s2')
    t.pass()
  } finally {
    await lab.setLink('s2', 's0', { resetRate: 0 })
  }
})

serial(
  'a seeded nemesis schedule plays on the lab, process faults on stand-in processes, and ends healed',
  async (t) => {
    const lab = the()
    const schedule = generateSchedule({
      seed,
      sites: [...lab.sites],
      durationMs: 3000,
      warmupMs: 100,
      minGapMs: 200,
      maxGapMs: 500,
      minHoldMs: 200,
      maxHoldMs: 600,
    })
    t.log(formatSchedule(schedule))
    // Until the agent exists, a `sleep` per site stands in for it.
    const standIns = new Map<string, ChildProcess>()
    const start = (site: string) => standIns.set(site, lab.exec(site, 'sleep', ['300'], { stdio: 'ignore' }))
    for (const site of lab.sites) start(site)
    const signal = (site: string, sig: NodeJS.Signals) => {
      if (!standIns.get(site)!.kill(sig)) throw new Error(`${sig} to ${site} failed`)
    }
    const log = await runSchedule(schedule, {
      ...networkActions(lab),
      kill: (site) => signal(site, 'SIGKILL'),
      restart: (site) => void start(site),
      stop: (site) => signal(site, 'SIGSTOP'),
      cont: (site) => signal(site, 'SIGCONT'),
      clockJump: () => {}, // the agent will take a clock offset; nothing to do for a stand-in
    })
    t.deepEqual(
      log.filter((e) => e.error),
      [],
    )
    t.deepEqual(lab.cuts(), [])
    for (const site of lab.sites) t.notRegex(faultTables(site), /understudy_lab\b/)
    t.deepEqual(await Promise.all([reaches('s0', 's1', 10_000), reaches('s2', 's0', 10_000)]), [true, true])
    for (const child of standIns.values()) child.kill('SIGKILL')
  },
)

serial('close() kills what runs in the sites and removes every namespace', async (t) => {
  const lab = the()
  const sleeper = lab.exec('s2', 'sleep', ['300'], { stdio: 'ignore' })
  const exited = onExit(sleeper)
  t.true(netnsList().some((ns) => ns.startsWith(`${lab.plan.name}-`)))
  await lab.close()
  t.is((await exited).signal, 'SIGKILL')
  t.deepEqual(
    netnsList().filter((ns) => ns.startsWith(lab.plan.name)),
    [],
  )
  t.notRegex(runSync(NFT, ['list', 'tables']), /understudy_lab/, 'no table leaked into the host')
})

parallel('cleanupStale removes the namespaces of a dead run and leaves live ones alone', async (t) => {
  const dead = spawn('true')
  await onExit(dead)
  // A prefix of its own, so that another run's clean-up cannot take the stale one first.
  const staleName = `ustale-${dead.pid}-0badcafe-r`
  const liveName = `ustale-${process.pid}-0badcafe-r`
  runSync(IP, ['netns', 'add', staleName])
  runSync(IP, ['netns', 'add', liveName])
  t.teardown(() => runSync(IP, ['-force', '-batch', '-'], `netns del ${staleName}\nnetns del ${liveName}\n`))
  t.deepEqual(cleanupStale('ustale'), [staleName])
  const left = netnsList()
  t.false(left.includes(staleName))
  t.true(left.includes(liveName))
})

for (const mode of ['wait', 'throw'] as const) {
  const how = mode === 'wait' ? 'SIGTERM' : 'an uncaught exception'
  parallel(`a lab is removed when its process dies of ${how}`, async (t) => {
    const child = spawn(
      process.execPath,
      [new URL('./fixtures/lab-child.ts', import.meta.url).pathname, mode],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    t.teardown(() => child.kill('SIGKILL'))
    const exited = onExit(child)
    const line = await firstLine(child)
    const { name, pid } = JSON.parse(line) as { name: string; pid: number }
    t.true(netnsList().some((ns) => ns.startsWith(name)))
    if (mode === 'wait') child.kill('SIGTERM')
    const end = await exited
    t.is(mode === 'wait' ? end.signal : end.code, mode === 'wait' ? 'SIGTERM' : 1)
    t.deepEqual(
      netnsList().filter((ns) => ns.startsWith(name)),
      [],
    )
    await waitUntil(() => !alive(pid), `the process in the site (${pid}) to die`)
    t.pass()
  })
}

function onExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
}

function firstLine(child: ChildProcess): Promise<string> {
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`lab child exited (${code}) before printing: ${stderr}`)))
  })
}

/** Running or sleeping; a zombie waiting for its reaper counts as dead. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

async function waitUntil(done: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
