/**
 * The TUI against a real control server (HTTP + SSE on a Unix socket) fed by the scripted FakeAgent:
 * what it shows, how the keys move it, what it asks before acting, and how it rides out an agent
 * that goes away. The screen is read from ink-testing-library's frames.
 */
import { PassThrough } from 'node:stream'
import test from 'ava'
import { ControlServer } from '../../src/agent/control/index.ts'
import { runTui } from '../../src/tui/index.ts'
import { KEYS, launch, renderTui, screen, startAgent, waitForScreen, waitForText } from './helpers.ts'

const rowOf = (lines: string[], name: string) => lines.find((l) => l.slice(1).startsWith(`${name} `))
/** The screen's text with wrapped lines joined, for messages that may span rows. */
const flat = (lines: string[]) => lines.map((l) => l.trim()).join(' ')

test('renders workloads and peers at 80 columns without a line past 80', async (t) => {
  const { address, client } = await startAgent(t)
  await launch(client, 'kv')
  await launch(client, 'web-frontend-with-a-long-name', 2)
  const r = renderTui(t, address)
  const lines = await waitForScreen(
    r,
    (_, all) => all.includes('web-frontend') && all.includes('12D3KooWOther') && all.includes('events live'),
    'both workloads, the peers and a live event stream',
  )
  t.truthy(
    lines.find((l) => /NAME\s+STATE\s+REPL\s+PRIMARY\s+SITE\s+EPOCH\s+COMMIT\s+MAX LAG\s+DIGEST/.test(l)),
  )
  t.regex(rowOf(lines, 'kv') ?? '', /kv\s+running\s+3\/3\s+peer-0\s+site-0\s+1\s+0\s+0e\/0ms\s+ok/)
  t.truthy(lines.find((l) => /12D3KooWOther\s+lab-b\s+physics\s+idle\s+8\s+12G\/16G\s+1\.5ms/.test(l)))
  t.truthy(
    lines.find((l) => l.includes('12D3KooWSelf *')),
    'the agent itself is marked',
  )
  t.truthy(
    lines.find((l) => l.includes('workload  kv is running')),
    'the feed shows the backlog',
  )
  const wide = lines.filter((l) => l.length > 80)
  t.deepEqual(wide, [], 'no line is wider than the terminal')
  t.true(lines.length <= 23, `the frame (${lines.length} lines) leaves the terminal's last row free`)
})

test('a larger terminal gets more columns and rows', async (t) => {
  const { address, client } = await startAgent(t)
  await launch(client, 'kv')
  await client.failover('kv')
  const r = renderTui(t, address, { columns: 160, rows: 50 })
  const lines = await waitForScreen(
    r,
    (_, all) => all.includes('LAST FAILOVER') && all.includes('peer-1') && all.includes('12D3KooWOther'),
    'the wide layout',
  )
  t.truthy(lines.find((l) => /OWNER\s+ROLES\s+LAST FAILOVER/.test(l)))
  t.regex(rowOf(lines, 'kv') ?? '', /alice\s+SP?S?/)
  t.deepEqual(
    lines.filter((l) => l.length > 160),
    [],
  )
  t.true(lines.length > 23 && lines.length <= 49)
})

test('a promotion pushed through the server appears in the feed, and the primary changes on the next poll', async (t) => {
  const { address, client } = await startAgent(t)
  await launch(client, 'kv')
  const r = renderTui(t, address)
  await waitForScreen(
    r,
    (l, all) => /peer-0/.test(rowOf(l, 'kv') ?? '') && all.includes('events live'),
    'kv on peer-0',
  )
  // Another client (the CLI, say) drills a failover: the TUI learns of it only through the API.
  const moved = await client.failover('kv')
  t.is(moved.to, 'peer-1')
  const lines = await waitForScreen(
    r,
    (l, all) =>
      all.includes('promotion') && /kv\s+running\s+3\/3\s+peer-1\s+site-1\s+2/.test(rowOf(l, 'kv') ?? ''),
    'the promotion and the new primary',
  )
  t.truthy(lines.find((l) => /promotion\s+kv: peer-1 is primary at epoch 2, took 42ms/.test(l)))
  t.truthy(lines.find((l) => /election\s+kv: peer-1 won the election for epoch 2/.test(l)))
})

test('keys: j/k and arrows move, tab cycles panes, enter opens the detail, esc goes back, ? helps, q quits', async (t) => {
  const { address, client } = await startAgent(t)
  for (const name of ['alpha', 'beta', 'gamma']) await launch(client, name)
  const r = renderTui(t, address)
  await waitForScreen(r, (l) => rowOf(l, 'gamma') !== undefined, 'three workloads')
  const selected = () => screen(r).find((l) => l.startsWith('>') && /running/.test(l))
  t.regex(selected() ?? '', /^>alpha/)
  r.stdin.write('j')
  await waitForScreen(r, () => /^>beta/.test(selected() ?? ''), 'beta selected')
  r.stdin.write(KEYS.down)
  await waitForScreen(r, () => /^>gamma/.test(selected() ?? ''), 'gamma selected')
  r.stdin.write('j')
  await waitForScreen(r, () => /^>gamma/.test(selected() ?? ''), 'gamma still selected at the end')
  r.stdin.write('k')
  await waitForScreen(r, () => /^>beta/.test(selected() ?? ''), 'beta selected again')

  r.stdin.write(KEYS.enter)
  const detail = await waitForText(r, 'replicas in at least 2 sites')
  t.truthy(detail.find((l) => l.includes('beta · running · epoch 1')))
  t.truthy(detail.find((l) => /peer-0\s+site-0\s+primary\s+1\s+0\s+-\s+-\s+agree/.test(l)))
  t.truthy(detail.find((l) => /peer-2\s+site-2\s+shadow\s+1\s+0\s+0\s+0ms\s+agree/.test(l)))
  r.stdin.write(KEYS.left)
  await waitForText(r, 'Workloads (3)')

  // Tab moves the focus: the focused pane's title is marked, and j/k move its selection.
  const focused = () => screen(r).flatMap((l) => /^▸ (\w+) \(/.exec(l)?.[1] ?? [])
  t.deepEqual(focused(), ['Workloads'])
  r.stdin.write(KEYS.tab)
  await waitForScreen(r, () => focused()[0] === 'Peers', 'the peers pane focused')
  r.stdin.write('j')
  await waitForScreen(r, (l) => l.some((x) => x.startsWith('>12D3KooWOther')), 'the second peer selected')
  t.regex(selected() ?? '', /^>beta/, 'the workload selection stays')
  r.stdin.write(KEYS.tab)
  await waitForScreen(r, () => focused()[0] === 'Events', 'the events pane focused')
  r.stdin.write(KEYS.tab)
  await waitForScreen(r, () => focused()[0] === 'Workloads', 'back on workloads')
  r.stdin.write('j')
  await waitForScreen(r, () => /^>gamma/.test(selected() ?? ''), 'gamma selected')

  r.stdin.write('?')
  await waitForText(r, 'drill a failover of the selected workload')
  r.stdin.write('x')
  await waitForText(r, 'Workloads (3)')
  t.deepEqual(r.quits, [])
  r.stdin.write('q')
  await waitForScreen(r, () => r.quits.length === 1, 'the app to quit')
  t.pass()
})

test('a failover drill asks first and calls the failover route only after y', async (t) => {
  const { agent, address, client } = await startAgent(t)
  await launch(client, 'kv')
  const r = renderTui(t, address)
  await waitForScreen(r, (l) => rowOf(l, 'kv') !== undefined, 'kv')
  const failovers = () => agent.calls.filter((c) => c.route === 'failover').length

  r.stdin.write('f')
  const asked = await waitForText(r, 'Drill a failover of kv from peer-0 to its most caught-up shadow?')
  t.truthy(
    asked.find((l) => l.includes('[y] yes   [n] no')),
    asked.join('\n'),
  )
  r.stdin.write('x') // not an answer: the question stays
  r.stdin.write('n')
  await waitForScreen(r, (_, all) => !all.includes('Drill a failover'), 'the dialog gone after n')
  // Polls went on meanwhile; the failover route was never called.
  const polls = agent.calls.length
  await waitForScreen(r, () => agent.calls.length > polls + 3, 'a few more polls')
  t.is(failovers(), 0)

  r.stdin.write('f')
  await waitForText(r, 'Drill a failover of kv')
  t.is(failovers(), 0)
  r.stdin.write('y')
  const lines = await waitForText(r, 'failover of kv: peer-0 → peer-1 at epoch 2, took 42ms')
  t.is(failovers(), 1)
  t.falsy(lines.find((l) => l.includes('Drill a failover')))
  await waitForScreen(r, (l) => /peer-1\s+site-1\s+2\s/.test(rowOf(l, 'kv') ?? ''), 'the new primary')

  r.stdin.write(KEYS.enter)
  const detail = await waitForText(
    r,
    /Last failover \d\d:\d\d:\d\d \(drill\): peer-0 → peer-1 at epoch 2, took 42ms/,
  )
  t.truthy(detail.find((l) => /peer-1\s+site-1\s+primary\s/.test(l)))
  t.truthy(detail.find((l) => /peer-0\s+site-0\s+shadow\s/.test(l)))
  t.truthy(
    detail.find((l) => /promotion\s+kv: peer-1 is primary at epoch 2/.test(l)),
    'the recent events',
  )
})

test('a refused failover shows the policy reasons', async (t) => {
  const { address, client } = await startAgent(t)
  await launch(client, 'locked-db')
  const r = renderTui(t, address)
  await waitForScreen(r, (l) => rowOf(l, 'locked-db') !== undefined, 'locked-db')
  r.stdin.write('f')
  await waitForText(r, 'Drill a failover of locked-db')
  r.stdin.write('y')
  const lines = await waitForScreen(
    r,
    (l) =>
      flat(l).includes(
        'failover of locked-db failed: policy refuses a failover of locked-db [ERR_FORBIDDEN]',
      ),
    'the refusal',
  )
  t.true(flat(lines).includes('Because: data:owner-only: only the owner may move it'))
  t.true(lines.every((l) => l.length <= 80))
})

test('s stops the selected workload after y, from the detail view', async (t) => {
  const { agent, address, client } = await startAgent(t)
  await launch(client, 'kv')
  const r = renderTui(t, address)
  await waitForScreen(r, (l) => rowOf(l, 'kv') !== undefined, 'kv')
  r.stdin.write(KEYS.enter)
  await waitForText(r, 'Data policy')
  r.stdin.write('s')
  await waitForText(r, "Stop kv and delete its replicas' logs and checkpoints?")
  t.is(agent.calls.filter((c) => c.route === 'stop').length, 0)
  r.stdin.write('y')
  await waitForText(r, 'kv is stopped')
  t.is(agent.calls.filter((c) => c.route === 'stop').length, 1)
  await waitForText(r, 'kv · stopped')
})

test('e explains the placement of the selected workload', async (t) => {
  const { address, client } = await startAgent(t)
  await launch(client, 'kv', 2)
  const r = renderTui(t, address)
  await waitForScreen(r, (l) => rowOf(l, 'kv') !== undefined, 'kv')
  r.stdin.write('e')
  const lines = await waitForText(r, '2 replicas in 2 sites')
  t.truthy(lines.find((l) => /✓ chosen peer-0 site site-0, org physics as primary/.test(l)))
  t.truthy(lines.find((l) => /^\s+distinct site$/.test(l)))
  r.stdin.write(KEYS.escape)
  await waitForText(r, 'Workloads (1)')
})

test('when the agent goes away the screen says unreachable, retrying, and it recovers when the agent is back', async (t) => {
  const { agent, server, address, client } = await startAgent(t)
  await launch(client, 'kv')
  const r = renderTui(t, address)
  await waitForText(r, 'events live')
  await server.close()
  const down = await waitForText(r, 'agent unreachable, retrying in')
  t.truthy(
    down.find((l) => l.includes('(stale: the agent is not answering)')),
    'old data is marked stale',
  )
  t.truthy(
    down.find((l) => l.includes('kv')),
    'and still shown',
  )

  // The agent comes back on the same socket (same boot: the event stream resumes where it was).
  const again = await ControlServer.start({
    listen: address,
    handlers: agent,
    events: agent.hub,
    heartbeatMs: 500,
    closeGraceMs: 100,
  })
  t.teardown(() => again.close())
  await launch(client, 'after')
  const up = await waitForScreen(
    r,
    (l, all) =>
      all.includes('events live') && rowOf(l, 'after') !== undefined && all.includes('after is running'),
    'the recovered agent, its new workload and its event',
  )
  t.falsy(up.find((l) => l.includes('unreachable')))
  t.falsy(up.find((l) => l.includes('stale')))
})

test('an agent that is not there from the start is reported, not waited for silently', async (t) => {
  const r = renderTui(t, { socketPath: '/nonexistent/understudy/control.sock' })
  const lines = await waitForText(r, 'agent unreachable, retrying in')
  t.regex(
    flat(lines),
    /cannot reach the agent on \/nonexistent\/understudy\/control\.sock: .*ENOENT.*\[ERR_AGENT_UNREACHABLE\]/,
  )
  t.true(lines.every((l) => l.length <= 80))
  t.truthy(lines.find((l) => l.includes('no workloads')))
})

test('runTui refuses to start without a terminal to read keys from', async (t) => {
  const stdin = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.ReadStream
  await t.throwsAsync(runTui({ address: { socketPath: '/nonexistent.sock' }, stdin }), {
    code: 'ERR_USAGE',
    message: /needs a terminal/,
  })
})
