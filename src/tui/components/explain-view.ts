/** `e`: why each peer was or was not chosen to hold the workload, as the agent explains it. */
import { createElement as h, type ReactElement } from 'react'
import type { Explanation } from '../api.ts'
import { clock, shortId } from '../format.ts'
import type { Loadable } from '../state.ts'
import { type Line, Lines } from './lines.ts'
import { titleLine } from './sections.ts'

/** The explanation as lines: a summary, then each candidate and its reasons. */
export function explainLines(explain: Loadable<Explanation> | undefined, name: string): Line[] {
  if (explain?.name !== name || (!explain.data && !explain.error)) {
    return [{ key: 'x-wait', text: `  asking the agent why ${name} is placed where it is…`, style: 'dim' }]
  }
  if (explain.error)
    return [{ key: 'x-error', text: `  cannot explain ${name}: ${explain.error}`, style: 'bad' }]
  const x = explain.data!
  const lines: Line[] = [
    { key: 'x-summary', text: `  ${x.summary} (decided ${clock(x.decidedAt)})`, style: 'strong' },
  ]
  for (const c of x.candidates) {
    const role = c.role && c.role !== 'unknown' ? ` as ${c.role}` : ''
    lines.push({
      key: `x-${c.peerId}`,
      text: `  ${c.chosen ? '✓ chosen' : '✗ passed'} ${shortId(c.peerId, 20)} site ${c.site}${c.org ? `, org ${c.org}` : ''}${role}`,
      style: c.chosen ? 'good' : 'warn',
    })
    c.reasons.forEach((reason, i) => {
      lines.push({ key: `x-${c.peerId}-${i}`, text: `      ${reason}` })
    })
  }
  return lines
}

export function ExplainView(props: {
  explain: Loadable<Explanation> | undefined
  name: string
  scroll: number
  height: number
}): ReactElement {
  const lines = explainLines(props.explain, props.name)
  const body = props.height - 1
  const start = Math.min(props.scroll, Math.max(0, lines.length - body))
  return h(Lines, {
    lines: [
      titleLine('x-title', `Placement of ${props.name}  (esc to close, ↑↓ to scroll)`, true),
      ...lines.slice(start),
    ],
    height: props.height,
  })
}
