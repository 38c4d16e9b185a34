/**
 * The TUI against real agents: three `understudy agent` processes on loopback (src/demo/local-mesh.ts),
 * the replicated kv guest on all three. What the screen shows is checked against the agents' own API:
 * the workload and its replicas, the peers, a failover drilled from the keyboard, the primary's agent
 * killed with SIGKILL — rendered with ink-testing-library, and once in a real terminal (tmux) from the
 * real CLI.
 *
 * An agent reports elections and promotions only where they happen, so a TUI watching another agent
 * learns of a failover from its polls (a 'failover' line in the feed); the new primary's own agent
 * sends its 'election' and 'promotion' events.
 */
import { fileURLToPath } from 'node:url'
import test, { type ExecutionContext } from 'ava'
import type { WorkloadSummary } from '../../src/agent/control/index.ts'
import { KvClient } from '../../src/demo/kv-client.ts'
import { type AgentHandle, Cluster } from '../../src/demo/local-mesh.ts'
import { waitFor as waitUntil } from '../../src/demo/wait-for.ts'
import { KEYS, renderTui, type TuiTiming, waitForScreen } from './helpers.ts'
import { hasTmux, privateTmux, quote, SESSION, waitForPane } from './tmux-pane.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const KV = fileURLToPath(new URL('../../guests/build/kv.wasm', import.meta.url))
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
const NAME = 'kv'
/** Real agents ask their peers before they answer; on a loaded machine that takes a while. */
const REAL: TuiTiming = { pollMs: 300, timeoutMs: 15_000 }
/** How long a screen may take to show what the agents already know, or a failover to complete. */
const SCREEN_MS = 60_000
const SIZE = { columns: 80, rows: 24 }

let cluster: Cluster

test.before(async () => {
  // A longer election timeout than the cluster's default: a loaded machine must not elect by accident.
  cluster = await Cluster.start({ size: 3, heartbeatMs: 100, electionTimeoutMs: 2_000 })
  try {
    await cluster.agents[0]!.client.run({ name: NAME, image: KV, replicas: 3, args: ['/data'] })
    await allRunning()
    // Something in the log, so the replicas have entries to agree on.
    const kv = new KvClient(
      cluster.agents.map((a) => a.client),
      NAME,
    )
    for (let i = 0; i < 3; i++) await kv.set(`k${i}`, `v${i}`)
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${cluster.dump()}`)
  }
})

test.after.always(async () => {
  await cluster?.close()
})

// ---- reading the screen ----------------------------------------------------------------------------

/** What shortId shows of a peer id in a 12-column cell. */
const tail = (peerId: string) => peerId.slice(-11)
const alive = (a: AgentHandle) => a.process.exitCode === null && a.process.signalCode === null

interface Row {
  state: string
  live: number
  wanted: number
  primary: AgentHandle | undefined
  site: string
  epoch: number
}

/** The kv row of the workloads table: NAME STATE REPL PRIMARY SITE EPOCH … */
function workloadRow(lines: readonly string[]): Row | undefined {
  for (const line of lines) {
    const m = /^.kv\s+(\w+)\s+(\d+)\/(\d+)\s+…(\w{11})\s+(\S+)\s+(\d+)\s/.exec(line)
    if (m) {
      return {
        state: m[1]!,
        live: Number(m[2]),
        wanted: Number(m[3]),
        primary: cluster.agents.find((a) => a.peerId.endsWith(m[4]!)),
        site: m[5]!,
        epoch: Number(m[6]),
      }
    }
  }
  return undefined
}

/** A replica's row in the detail view: PEER SITE ROLE EPOCH … */
function replicaRow(lines: readonly string[], a: AgentHandle): { role: string; epoch: string } | undefined {
  const re = new RegExp(`${a.peerId.slice(-10)}\\s+${a.site}\\s+(\\S+)\\s+(\\d+|-)\\s`)
  for (const line of lines) {
    const m = re.exec(line)
    if (m) return { role: m[1]!, epoch: m[2]! }
  }
  return undefined
}

/** The feed's line for `peer` becoming primary in `epoch`: its own promotion, or the change a poll saw. */
const promotionLine = (peer: AgentHandle, epoch: number) =>
  new RegExp(`(promotion|failover)\\s+${NAME}: …${tail(peer.peerId)} is primary at epoch ${epoch}\\b`)

/** The footer's account of a drill that worked: from, to, epoch. */
const answeredOk = (lines: readonly string[]) =>
  /failover of kv: …(\w{11}) → …(\w{11}) at epoch (\d+), took/.exec(lines.join('\n'))

function assertFits(t: ExecutionContext, lines: readonly string[], columns = SIZE.columns) {
  t.deepEqual(
    lines.filter((l) => l.length > columns),
    [],
    `no line is wider than ${columns} columns`,
  )
  t.true(lines.length < SIZE.rows, `the frame (${lines.length} lines) leaves the terminal's last row free`)
}

// ---- asking the agents -----------------------------------------------------------------------------

/** Polls `probe` until it answers (src/demo/wait-for.ts), with this file's deadline. */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = SCREEN_MS) =>
  waitUntil(what, probe, { timeoutMs, everyMs: 200 })

/** The workload as `via` reports it, once `ok` holds. */
function workload(via: AgentHandle, what: string, ok: (w: WorkloadSummary) => boolean) {
  return waitFor(what, async () => {
    const w = (await via.client.workloads()).find((x) => x.name === NAME)
    return w && ok(w) ? w : undefined
  })
}

/** Every agent up (restarting any that was killed), and kv running on all three, caught up. */
async function allRunning(): Promise<WorkloadSummary> {
  for (const a of cluster.agents) if (!alive(a)) await cluster.restart(a)
  return workload(
    cluster.agents[0]!,
    `${NAME} running with three live, caught-up replicas`,
    (w) =>
      w.state === 'running' &&
      w.primary !== undefined &&
      w.replicas.every((r) => r.reachable && r.epoch === w.epoch && r.appliedSeq >= w.committedSeq - 1),
  )
}

/** Runs `body`; on failure the agents' last output goes to the test's log. */
async function diagnosed(t: ExecutionContext, body: () => Promise<void>): Promise<void> {
  try {
    await body()
  } catch (err) {
    t.log(cluster.dump())
    throw err
  }
}

// ---- the tests -------------------------------------------------------------------------------------

test.serial(
  'the workload, its three replicas and the three agents, as real agents report them, in 80 columns',
  async (t) => {
    t.timeout(180_000)
    await diagnosed(t, async () => {
      const [a0] = cluster.agents as [AgentHandle]
      const r = renderTui(t, { socketPath: a0.socket }, SIZE, REAL)
      const lines = await waitForScreen(
        r,
        (l, all) =>
          workloadRow(l)?.primary !== undefined &&
          all.includes('events live') &&
          cluster.agents.every((a) => l.some((x) => x.includes(`${a.peerId.slice(-10)} `))),
        'kv with its primary, the three agents and a live event stream',
        SCREEN_MS,
      )
      const row = workloadRow(lines)!
      t.is(row.state, 'running')
      t.is(`${row.live}/${row.wanted}`, '3/3')
      t.is(row.site, row.primary!.site, "the primary's site is the one its agent has")
      const api = await workload(a0, 'the API to agree', (w) => w.primary === row.primary!.peerId)
      t.is(api.epoch, row.epoch)
      t.regex(lines[0] ?? '', new RegExp(`^ understudy …${a0.peerId.slice(-13)} site-a/lab`))

      // The peers pane: every agent with its site; this one marked.
      const peers = lines.slice(lines.findIndex((l) => l.includes('Peers (')))
      for (const a of cluster.agents) {
        const line = peers.find((l) => new RegExp(`${a.peerId.slice(-10)}( \\*)?\\s+${a.site}\\s`).test(l))
        t.truthy(line, `${a.site}'s agent is listed with its site`)
        t.is(line!.includes(' * '), a === a0, 'only the agent itself is marked')
      }
      t.falsy(
        lines.find((l) => /\s0M\/0M\s/.test(l)),
        'a capacity the agent does not report is not shown as zero',
      )
      assertFits(t, lines)

      // The detail view: the three replicas, one primary and two shadows, all in the group's epoch.
      r.stdin.write(KEYS.enter)
      const detail = await waitForScreen(
        r,
        (l) => {
          const rows = cluster.agents.map((a) => replicaRow(l, a))
          return (
            rows.every((x) => x !== undefined && x.epoch === String(row.epoch)) &&
            rows
              .map((x) => x!.role)
              .sort()
              .join() === 'primary,shadow,shadow'
          )
        },
        'three replicas: a primary and two shadows in one epoch',
        SCREEN_MS,
      )
      t.is(replicaRow(detail, row.primary!)?.role, 'primary')
      t.truthy(detail.find((l) => l.includes(`${NAME} · running · epoch ${row.epoch}`)))
      t.truthy(detail.find((l) => /owner 12D3KooW\w+ · 3\/3 replicas/.test(l)))
      t.truthy(detail.find((l) => /PEER\s+SITE\s+ROLE\s+EPOCH\s+COMMIT\s+LAG\s+LAG MS\s+DIGEST/.test(l)))
      assertFits(t, detail)
      r.stdin.write(KEYS.escape)
      await waitForScreen(r, (_, all) => all.includes('Workloads (1)'), 'back to the lists')
    })
  },
)

test.serial(
  'a failover drilled from the TUI with f then y moves the primary, on screen and for real',
  async (t) => {
    t.timeout(180_000)
    await diagnosed(t, async () => {
      const [a0, a1] = cluster.agents as [AgentHandle, AgentHandle]
      const r = renderTui(t, { socketPath: a0.socket }, SIZE, REAL)
      const drill = async () => {
        const before = await allRunning()
        const from = cluster.agent(before.primary!)
        await waitForScreen(
          r,
          (l, all) => {
            const row = workloadRow(l)
            return row?.primary === from && row.epoch === before.epoch && all.includes('events live')
          },
          `kv with its primary on ${from.site}`,
          SCREEN_MS,
        )
        r.stdin.write('f')
        await waitForScreen(
          r,
          (_, all) => all.includes(`Drill a failover of ${NAME} from …${tail(from.peerId)}`),
          'the question',
        )
        r.stdin.write('y')
        // The answer replaces the question (and any earlier outcome) in one frame.
        await waitForScreen(r, (_, all) => !all.includes('Drill a failover'), 'the question gone')
        const answered = await waitForScreen(
          r,
          (_, all) => /failover of kv( failed)?:/.test(all),
          "the drill's outcome",
          SCREEN_MS,
        )
        return { before, from, answered }
      }
      // A drill the agents could not complete (a stalled disk can delay the new primary past the
      // election timeout) is shown as failed; it is tried again rather than blamed on the screen.
      let attempt = await drill()
      for (let tries = 1; tries < 3 && !answeredOk(attempt.answered); tries++) {
        t.log(`drill ${tries} failed on screen:\n${attempt.answered.join('\n')}`)
        attempt = await drill()
      }
      const { before, from, answered } = attempt
      const outcome = answeredOk(answered)
      if (!outcome) throw new Error(`the drill failed:\n${answered.join('\n')}`)
      t.is(outcome[1], tail(from.peerId))
      const to = cluster.agents.find((a) => a.peerId.endsWith(outcome[2]!))!
      t.truthy(to)
      t.not(to, from)
      const epoch = Number(outcome[3])
      t.true(epoch > before.epoch)

      // … then the feed and the table: the new primary, wherever its promotion was reported.
      const lines = await waitForScreen(
        r,
        (l, all) => {
          const row = workloadRow(l)
          return row?.primary === to && row.epoch === epoch && promotionLine(to, epoch).test(all)
        },
        `the promotion of ${to.site}'s replica and the new primary`,
        SCREEN_MS,
      )
      t.log(lines.find((l) => promotionLine(to, epoch).test(l)))
      t.falsy(
        lines.find((l) => l.includes('Drill a failover')),
        'the question is gone',
      )
      assertFits(t, lines)

      // The agents agree: another agent's API names the new primary, in the new epoch.
      const after = await workload(a1, 'the new primary', (w) => w.primary !== undefined && w.epoch >= epoch)
      t.is(after.primary, to.peerId)
      t.is(after.epoch, epoch)
    })
  },
)

test.serial(
  'kill -9 of the primary’s agent: the surviving agents’ TUIs show the election, the new primary and the lost replica',
  async (t) => {
    t.timeout(240_000)
    await diagnosed(t, async () => {
      const before = await allRunning()
      const victim = cluster.agent(before.primary!)
      const survivors = cluster.agents.filter((a) => a !== victim)
      const tuis = survivors.map((a) => ({ agent: a, r: renderTui(t, { socketPath: a.socket }, SIZE, REAL) }))
      for (const { r } of tuis) {
        await waitForScreen(
          r,
          (l, all) => workloadRow(l)?.primary === victim && all.includes('events live'),
          `kv with its primary on ${victim.site}`,
          SCREEN_MS,
        )
      }

      cluster.kill(victim, 'SIGKILL')
      await victim.exited

      // Every survivor's screen: a new primary among the survivors, in a newer epoch, one replica short.
      const rows: Row[] = []
      for (const { r } of tuis) {
        const lines = await waitForScreen(
          r,
          (l, all) => {
            const row = workloadRow(l)
            return (
              row !== undefined &&
              row.primary !== undefined &&
              row.primary !== victim &&
              row.epoch > before.epoch &&
              row.live === 2 &&
              promotionLine(row.primary, row.epoch).test(all)
            )
          },
          'a new primary among the survivors, its promotion and the lost replica',
          SCREEN_MS,
        )
        rows.push(workloadRow(lines)!)
      }
      const winner = rows[0]!.primary!
      const epoch = rows[0]!.epoch
      t.true(survivors.includes(winner))
      for (const row of rows) {
        t.is(row.primary, winner, 'both survivors show the same primary')
        t.is(row.epoch, epoch)
        t.is(row.state, 'degraded')
        t.is(`${row.live}/${row.wanted}`, '2/3')
        t.is(row.site, winner.site)
      }

      // The winner's agent reports its own election and promotion (with how long it took).
      const own = tuis.find((x) => x.agent === winner)!
      const ownScreen = await waitForScreen(
        own.r,
        (_, all) =>
          new RegExp(`election\\s+kv: …${tail(winner.peerId)} won the election for epoch ${epoch}`).test(
            all,
          ) &&
          new RegExp(`promotion\\s+kv: …${tail(winner.peerId)} is primary at epoch ${epoch}, took`).test(all),
        "the winner's election and promotion events",
        SCREEN_MS,
      )
      assertFits(t, ownScreen)

      // In each detail view the killed replica is unreachable, the others are primary and shadow.
      for (const { agent, r } of tuis) {
        r.stdin.write(KEYS.enter)
        const detail = await waitForScreen(
          r,
          (l) =>
            replicaRow(l, victim)?.role === 'unreachable' &&
            replicaRow(l, winner)?.role === 'primary' &&
            survivors.every((a) => replicaRow(l, a)?.epoch === String(epoch)),
          'the killed replica unreachable, the others in the new epoch',
          SCREEN_MS,
        )
        const other = survivors.find((a) => a !== winner)!
        t.is(replicaRow(detail, other)?.role, 'shadow')
        t.is(replicaRow(detail, victim)?.epoch, '-', "an unreachable replica's epoch is not shown as 0")
        t.truthy(
          detail.find((l) => promotionLine(winner, epoch).test(l)),
          'the recent events show the promotion',
        )
        t.truthy(detail.find((l) => l.includes(`${NAME} · degraded · epoch ${epoch}`)))
        // Only the new primary's agent knows of the failover (it does not say from where).
        if (agent === winner) {
          const last = new RegExp(
            `Last failover \\d\\d:\\d\\d:\\d\\d \\(failure\\): (…\\w{11} → |to )…${tail(winner.peerId)} at epoch ${epoch}, took`,
          )
          t.truthy(
            detail.find((l) => last.test(l)),
            detail.join('\n'),
          )
        }
        assertFits(t, detail)
      }

      // The agents agree.
      const api = await workload(survivors[0]!, 'the new primary', (w) => w.primary !== undefined)
      t.is(api.primary, winner.peerId)
      t.false(api.replicas.find((x) => x.peerId === victim.peerId)!.reachable)
    })
  },
)

;(hasTmux ? test.serial : test.skip)(
  'under tmux at 80x24, the real CLI shows the promotion and the new primary after kill -9 of the primary’s agent',
  async (t) => {
    t.timeout(240_000)
    await diagnosed(t, async () => {
      const before = await allRunning()
      const victim = cluster.agent(before.primary!)
      const watched = cluster.agents.find((a) => a !== victim)!
      const tx = privateTmux('tui-real')
      // With CI set, Ink prints only the final frame: the pane must look like a terminal.
      const command =
        `env -u CI -u CONTINUOUS_INTEGRATION ${quote(process.execPath)} ${quote(MAIN)} tui ` +
        `--socket ${quote(watched.socket)} --interval 300; echo "[tui exited $?]"; sleep 600`
      try {
        await tx('new-session', '-d', '-s', SESSION, '-x', '80', '-y', '24', '-c', ROOT, command)
        const first = await waitForPane(
          tx,
          `kv with its primary on ${victim.site}, events live`,
          (s) => workloadRow(s.split('\n'))?.primary === victim && s.includes('events live'),
          SCREEN_MS,
        )
        t.regex(first.split('\n')[2] ?? '', /^▸ Workloads \(1\)/)

        cluster.kill(victim, 'SIGKILL')
        const after = await waitForPane(
          tx,
          'the promotion and the new primary',
          (s) => {
            const row = workloadRow(s.split('\n'))
            return (
              row?.primary !== undefined &&
              row.primary !== victim &&
              row.epoch > before.epoch &&
              promotionLine(row.primary, row.epoch).test(s)
            )
          },
          SCREEN_MS,
        )
        const lines = after.split('\n')
        const row = workloadRow(lines)!
        t.is(row.site, row.primary!.site)
        t.true(lines.length <= 24)
        t.deepEqual(
          lines.filter((l) => l.length > 80),
          [],
        )
        t.is(lines.filter((l) => l.includes('connected to')).length, 1, 'one header: no frame drawn twice')
        const api = await workload(watched, 'the new primary', (w) => w.primary !== undefined)
        t.is(api.primary, row.primary!.peerId)

        await tx('send-keys', '-t', SESSION, 'C-c')
        const end = await waitForPane(tx, 'the TUI to exit', (s) => s.includes('[tui exited'), SCREEN_MS)
        t.regex(end, /\[tui exited 0\]/)
      } finally {
        await tx('kill-server').catch(() => {})
      }
    })
  },
)
