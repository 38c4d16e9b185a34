import test from 'ava'
import { initialUi, keyCommand, navigate, type UiContext, type UiState } from '../../src/tui/index.ts'

const ctx: UiContext = { workloads: ['a', 'b', 'c'], peers: ['p1', 'p2'], events: 5, scrollable: 4, page: 10 }

/** Applies keys (as commands) in turn; returns the final state and every effect asked for. */
function run(commands: Parameters<typeof navigate>[1][], ui: UiState = initialUi) {
  const effects: unknown[] = []
  for (const c of commands) {
    const step = navigate(ui, c, ctx)
    ui = step.ui
    if (step.effect) effects.push(step.effect)
  }
  return { ui, effects }
}

test('keys map to commands: arrows and vi keys, tab, enter, escape, ctrl-c', (t) => {
  t.is(keyCommand('j', {}), 'down')
  t.is(keyCommand('', { downArrow: true }), 'down')
  t.is(keyCommand('k', {}), 'up')
  t.is(keyCommand('', { tab: true }), 'next-pane')
  t.is(keyCommand('', { tab: true, shift: true }), 'prev-pane')
  t.is(keyCommand('\r', { return: true }), 'open')
  t.is(keyCommand('', { escape: true }), 'back')
  t.is(keyCommand('c', { ctrl: true }), 'interrupt')
  t.is(keyCommand('q', {}), 'quit')
  t.is(keyCommand('?', {}), 'help')
  t.is(keyCommand('y', {}), 'yes')
  t.is(keyCommand('x', {}), 'other')
  t.is(keyCommand('j', { eventType: 'release' }), undefined)
})

test('selection moves by name within the focused pane and stops at the ends', (t) => {
  t.is(run(['down', 'down', 'down', 'down']).ui.selectedWorkload, 'c')
  t.is(run(['down', 'up', 'up']).ui.selectedWorkload, 'a')
  t.is(run(['bottom']).ui.selectedWorkload, 'c')
  const peers = run(['next-pane', 'down'])
  t.is(peers.ui.focus, 'peers')
  t.is(peers.ui.selectedPeer, 'p2')
  t.is(peers.ui.selectedWorkload, undefined, 'the workloads selection is untouched')
  t.is(run(['next-pane', 'next-pane', 'page-down']).ui.selectedEvent, 4)
  t.is(run(['next-pane', 'next-pane', 'next-pane']).ui.focus, 'workloads')
  t.is(run(['prev-pane']).ui.focus, 'events')
})

test('enter opens the selected workload and back closes it', (t) => {
  const opened = run(['down', 'open'])
  t.like(opened.ui, { view: 'detail', selectedWorkload: 'b' })
  t.deepEqual(opened.effects, [{ type: 'open-detail', workload: 'b' }])
  const back = run(['back'], opened.ui)
  t.is(back.ui.view, 'main')
  t.deepEqual(back.effects, [{ type: 'close-detail' }])
  t.deepEqual(run(['next-pane', 'open']).effects, [], 'enter on the peers pane opens nothing')
})

test('actions ask first: only yes acts, anything else leaves the question or cancels it', (t) => {
  const asked = run(['down', 'failover'])
  t.deepEqual(asked.ui.overlay, { type: 'confirm', action: 'failover', workload: 'b' })
  t.deepEqual(asked.effects, [])
  t.deepEqual(run(['other', 'down', 'open'], asked.ui).ui.overlay, asked.ui.overlay, 'other keys do nothing')
  const cancelled = run(['no'], asked.ui)
  t.is(cancelled.ui.overlay, undefined)
  t.deepEqual(cancelled.effects, [])
  t.deepEqual(run(['quit'], asked.ui).effects, [], 'q backs out of the question, it does not quit')
  t.deepEqual(run(['yes'], asked.ui).effects, [{ type: 'failover', workload: 'b' }])
  t.deepEqual(run(['stop', 'yes']).effects, [{ type: 'stop', workload: 'a' }])
  t.deepEqual(run(['interrupt'], asked.ui).effects, [{ type: 'quit' }], 'ctrl-c always quits')
})

test('help closes on any key; q quits from the lists, the detail and the explanation', (t) => {
  const help = run(['help'])
  t.deepEqual(help.ui.overlay, { type: 'help' })
  t.is(run(['down'], help.ui).ui.overlay, undefined)
  t.deepEqual(run(['quit']).effects, [{ type: 'quit' }])
  t.deepEqual(run(['open', 'quit']).effects.at(-1), { type: 'quit' })
  t.deepEqual(run(['explain', 'quit']).effects, [{ type: 'explain', workload: 'a' }, { type: 'quit' }])
})

test('the explanation scrolls within its length and closes with back', (t) => {
  const shown = run(['explain', 'down', 'down', 'down', 'down', 'down'])
  t.deepEqual(shown.ui.overlay, { type: 'explain', workload: 'a', scroll: 3 })
  const closed = run(['back'], shown.ui)
  t.is(closed.ui.overlay, undefined)
  t.deepEqual(closed.effects, [{ type: 'close-explain' }])
})
