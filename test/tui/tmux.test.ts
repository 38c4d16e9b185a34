/**
 * End to end in a real terminal: the TUI runs as its own process (the CLI command) in an 80×24 tmux
 * pane of a private tmux server, against a control server on a Unix socket; keys go in with
 * send-keys, the screen comes back with capture-pane. A failover drilled from the keyboard must show
 * up on screen, with every row where it belongs.
 */
import { fileURLToPath } from 'node:url'
import test, { type ExecutionContext } from 'ava'
import { launch, startAgent } from './helpers.ts'
import { hasTmux, privateTmux, quote, SESSION, waitForPane } from './tmux-pane.ts'

if (!hasTmux)
  console.warn('tmux is not installed (scripts/install-deps.sh installs it): skipping the tmux test')

const root = fileURLToPath(new URL('../../', import.meta.url))
const fixture = fileURLToPath(new URL('./fixtures/tui.ts', import.meta.url))

const kvRow = (screen: string) => screen.split('\n').find((l) => /^.kv\s+running/.test(l)) ?? ''

/** Every row where it belongs: a frame drawn a row off leaves copies of rows behind. */
function assertLaidOut(t: ExecutionContext, screen: string) {
  const lines = screen.split('\n')
  t.true(lines.length <= 24)
  t.regex(lines[0] ?? '', /^ understudy 12D3KooWSelf lab-a\/physics/)
  t.regex(lines[1] ?? '', /^ ● connected to .* events live/)
  t.regex(lines[2] ?? '', /^▸ Workloads \(1\)/)
  t.is(lines.filter((l) => l.includes('connected to')).length, 1)
  t.is(lines.filter((l) => /Events \(/.test(l)).length, 1)
}

;(hasTmux ? test : test.skip)(
  'under tmux at 80x24, a failover drilled with f then y appears on screen, and ctrl-c quits',
  async (t) => {
    const { address, client } = await startAgent(t)
    await launch(client, 'kv')
    const tx = privateTmux('tui')
    // With CI set, Ink prints only the final frame: the pane must look like a terminal.
    const command =
      `env -u CI -u CONTINUOUS_INTEGRATION ${quote(process.execPath)} ${quote(fixture)} ` +
      `--socket ${quote((address as { socketPath: string }).socketPath)} --interval 200; ` +
      'echo "[tui exited $?]"; sleep 600'
    try {
      await tx('new-session', '-d', '-s', SESSION, '-x', '80', '-y', '24', '-c', root, command)
      const first = await waitForPane(
        tx,
        'kv on peer-0 with live events',
        (s) => /peer-0/.test(kvRow(s)) && s.includes('events live'),
      )
      assertLaidOut(t, first)
      t.true(first.includes('tab pane  ↑↓ move  enter open'), 'the key hints are on screen')

      await tx('send-keys', '-t', SESSION, 'f')
      await waitForPane(tx, 'the question', (s) => s.includes('Drill a failover of kv from peer-0'))
      await tx('send-keys', '-t', SESSION, 'y')
      const after = await waitForPane(
        tx,
        'the promotion and the new primary',
        (s) => s.includes('promotion') && /peer-1\s+site-1\s+2\s/.test(kvRow(s)),
      )
      t.regex(after, /promotion\s+kv: peer-1 is primary at epoch 2, took 42ms/)
      t.regex(after, /failover of kv: peer-0 → peer-1 at epoch 2, took 42ms/)
      t.false(after.includes('Drill a failover'), 'the question is gone')
      assertLaidOut(t, after)

      await tx('send-keys', '-t', SESSION, 'C-c')
      const end = await waitForPane(tx, 'the TUI to exit', (s) => s.includes('[tui exited'))
      t.regex(end, /\[tui exited 0\]/)
      t.false(end.includes('Workloads ('), 'the alternate screen is left: the shell screen is back')
    } finally {
      await tx('kill-server').catch(() => {})
    }
  },
)
