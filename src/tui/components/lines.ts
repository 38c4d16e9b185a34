/**
 * Everything on screen is a list of one-row lines in fixed-height boxes: the screen keeps one height
 * (Ink redraws only what changed, and never has to clear), and no line can wrap.
 */
import { Box, Text } from 'ink'
import { createElement as h, memo, type ReactElement } from 'react'
import type { Tone } from '../event-text.ts'

export type Style = Tone | 'dim' | 'title' | 'focused-title' | 'header' | 'strong'

export interface Line {
  /** Stable across renders (a row's key), so React keeps the element. */
  key: string
  text: string
  style?: Style | undefined
  /** The selected row: inverse when its pane has the focus, bold otherwise. */
  selected?: 'focused' | 'unfocused' | undefined
}

const COLORS: Partial<Record<Style, string>> = {
  good: 'green',
  notice: 'cyan',
  warn: 'yellow',
  bad: 'red',
  header: 'gray',
  dim: 'gray',
}

const LineView = memo(function LineView({ line }: { line: Line }): ReactElement {
  const style = line.style
  return h(
    Text,
    {
      wrap: 'truncate-end',
      color: COLORS[style ?? 'plain'],
      bold:
        style === 'title' || style === 'focused-title' || style === 'strong' || line.selected === 'unfocused',
      inverse: style === 'focused-title' || line.selected === 'focused',
      dimColor: style === 'dim',
    },
    // An empty Text takes no row; a space keeps the line.
    line.text === '' ? ' ' : line.text,
  )
})

/** `lines` in a box exactly `height` rows high (cut or padded with blank rows). */
export function Lines({ lines, height }: { lines: readonly Line[]; height: number }): ReactElement | null {
  if (height <= 0) return null
  return h(
    Box,
    { flexDirection: 'column', height, overflow: 'hidden', flexShrink: 0 },
    ...lines.slice(0, height).map((line) => h(LineView, { key: line.key, line })),
  )
}

/** The selection marker column: '>' on the selected row. */
export function marker(selected: boolean): string {
  return selected ? '>' : ' '
}
