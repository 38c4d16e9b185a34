/** Plain text tables that fit a terminal: columns shrink (with an ellipsis) before lines wrap. */

export interface Column {
  header: string
  align?: 'left' | 'right' | undefined
  /** The column may be cut down to this width when the table is too wide; fixed when unset. */
  minWidth?: number | undefined
}

/** The table's lines, each at most `maxWidth` characters when the shrinkable columns allow it. */
export function renderTable(
  columns: readonly Column[],
  rows: readonly string[][],
  maxWidth: number,
): string[] {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)))
  let gap = 2
  const total = () => widths.reduce((a, b) => a + b, 0) + gap * (columns.length - 1)
  if (total() > maxWidth) gap = 1
  while (total() > maxWidth) {
    // Cut the column with the most to spare, one character at a time, so the cuts stay even.
    let widest = -1
    let spare = 0
    columns.forEach((c, i) => {
      const room = c.minWidth === undefined ? 0 : widths[i]! - c.minWidth
      if (room > spare) {
        spare = room
        widest = i
      }
    })
    if (widest < 0) break
    widths[widest]!--
  }
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => {
        const text = clip(cells[i] ?? '', widths[i]!)
        return c.align === 'right' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!)
      })
      .join(' '.repeat(gap))
      .trimEnd()
  return [line(columns.map((c) => c.header)), ...rows.map(line)]
}

/** The width tables are drawn for: the terminal's when stdout is one, else 80 columns. */
export function outputWidth(stream: NodeJS.WriteStream = process.stdout): number {
  return stream.isTTY && stream.columns > 0 ? stream.columns : 80
}

function clip(text: string, width: number): string {
  if (text.length <= width) return text
  return width <= 1 ? '…'.slice(0, width) : `${text.slice(0, width - 1)}…`
}
