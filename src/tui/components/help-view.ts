import { createElement as h, type ReactElement } from 'react'
import { type Line, Lines } from './lines.ts'
import { titleLine } from './sections.ts'

const KEYS: readonly (readonly [string, string])[] = [
  ['tab / shift-tab', 'next / previous pane (workloads, peers, events)'],
  ['↑ ↓  or  k j', 'move the selection; pgup pgdn, g G for pages and ends'],
  ['enter', "open the selected workload's detail"],
  ['esc  or  ←', 'back to the list'],
  ['f', 'drill a failover of the selected workload (asks first)'],
  ['s', 'stop the selected workload (asks first)'],
  ['e', 'explain its placement: why each peer was or was not chosen'],
  ['?', 'this help (any key closes it)'],
  ['q  or  ctrl-c', 'quit'],
]

export function helpLines(): Line[] {
  return [
    ...KEYS.map(([key, what]) => ({ key: `h-${key}`, text: `  ${key.padEnd(17)} ${what}` })),
    { key: 'h-blank', text: '' },
    {
      key: 'h-note-1',
      text: '  The screen polls the agent every second and follows its live events;',
      style: 'dim',
    },
    {
      key: 'h-note-2',
      text: '  when the agent does not answer it says so and keeps retrying.',
      style: 'dim',
    },
    {
      key: 'h-note-3',
      text: "  'failover' lines: a new primary seen by polling (promoted on another agent).",
      style: 'dim',
    },
  ]
}

export function HelpView({ height }: { height: number }): ReactElement {
  return h(Lines, { lines: [titleLine('h-title', 'Keys', true), ...helpLines()], height })
}
