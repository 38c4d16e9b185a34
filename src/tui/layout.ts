/** Shares the terminal's rows among stacked panes. */

/**
 * Splits `available` rows among panes that would like `wants[i]` rows each: every pane gets at least
 * `min` (when there is room), the focused pane is served first, then the others evenly; rows nobody
 * wants go to `filler`, so the screen keeps one height and nothing below it moves.
 */
export function allocateRows(
  available: number,
  wants: readonly number[],
  focused: number,
  filler: number,
  min = 1,
): number[] {
  const rows = wants.map(() => 0)
  let left = Math.max(0, available)
  for (let i = 0; i < wants.length && left > 0; i++) {
    rows[i] = Math.min(min, left)
    left -= rows[i]!
  }
  const serve = (i: number, cap: number) => {
    const extra = Math.max(0, Math.min((wants[i] ?? 0) - rows[i]!, cap, left))
    rows[i]! += extra
    left -= extra
  }
  // The focused pane takes up to half of what remains; the others share the rest a row at a time.
  serve(focused, Math.ceil(left / 2))
  const others = wants.map((_, i) => i).filter((i) => i !== focused)
  for (let hungry = true; hungry && left > 0; ) {
    hungry = false
    for (const i of others) {
      if (left > 0 && rows[i]! < wants[i]!) {
        serve(i, 1)
        hungry = true
      }
    }
  }
  serve(focused, left)
  if (left > 0 && filler >= 0 && filler < rows.length) rows[filler]! += left
  return rows
}

/**
 * The first index of a `height`-row window over `count` items that shows `selected`, moving as little
 * as possible from the previous window start `previous`.
 */
export function scrollWindow(count: number, height: number, selected: number, previous = 0): number {
  if (height <= 0 || count <= height) return 0
  let start = Math.min(Math.max(0, previous), count - height)
  if (selected < start) start = selected
  else if (selected >= start + height) start = selected - height + 1
  return Math.max(0, Math.min(start, count - height))
}
