/** The question asked before an action that changes the mesh: nothing happens without 'y'. */
import { Box, Text } from 'ink'
import { createElement as h, type ReactElement } from 'react'
import type { WorkloadSummary } from '../api.ts'
import { shortId } from '../format.ts'

/** Rows the dialog takes: a border above and below the question and the answers. */
export const CONFIRM_ROWS = 4

export function confirmText(
  action: 'failover' | 'stop',
  workload: WorkloadSummary | undefined,
  name: string,
): string {
  if (action === 'failover') {
    const from = workload?.primary ? ` from ${shortId(workload.primary)}` : ''
    return `Drill a failover of ${name}${from} to its most caught-up shadow?`
  }
  return `Stop ${name} and delete its replicas' logs and checkpoints?`
}

export function Confirm({ text, width }: { text: string; width: number }): ReactElement {
  return h(
    Box,
    {
      borderStyle: 'round',
      borderColor: 'yellow',
      flexDirection: 'column',
      width: width - 1,
      height: CONFIRM_ROWS,
      flexShrink: 0,
      paddingX: 1,
    },
    h(Text, { wrap: 'truncate-end', bold: true }, text),
    h(Text, { wrap: 'truncate-end' }, '[y] yes   [n] no'),
  )
}
