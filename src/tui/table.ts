/**
 * Fits table columns to the terminal's width: the most important columns first, the rest dropped
 * when they do not fit, spare width shared among the flexible ones. Rows never wrap.
 */
import { fitWidth } from './format.ts'

export interface Column<R> {
  title: string
  /** Narrowest useful width (at least the title's). */
  min: number
  /** Widest it grows to when there is room (default: min, or unbounded when flex > 0). */
  max?: number
  /** Share of spare width it takes (default 0: fixed). */
  flex?: number
  align?: 'left' | 'right'
  /** Lower is kept longer when the terminal is narrow. */
  priority: number
  /** The cell's text; `width` is the column's, for cells that shorten themselves (peer ids). */
  cell: (row: R, width: number) => string
}

export interface FittedColumn<R> extends Column<R> {
  width: number
}

const GAP = 1

/** The columns that fit in `width`, in their given order, each with its width. */
export function fitColumns<R>(columns: readonly Column<R>[], width: number): FittedColumn<R>[] {
  const byPriority = columns
    .map((c, i) => ({ c, i }))
    .sort((a, b) => a.c.priority - b.c.priority || a.i - b.i)
  const kept = new Set<number>()
  let used = 0
  for (const { c, i } of byPriority) {
    const need = c.min + (kept.size > 0 ? GAP : 0)
    if (used + need > width) continue
    kept.add(i)
    used += need
  }
  const fitted = columns.flatMap((c, i) => (kept.has(i) ? [{ ...c, width: c.min }] : []))
  let spare = width - used
  // Hand out spare width one character at a time, weighted by flex, until none is left or all are full.
  const room = (c: FittedColumn<R>) => (c.max ?? (c.flex ? Number.POSITIVE_INFINITY : c.min)) - c.width
  for (;;) {
    const growing = fitted.filter((c) => (c.flex ?? 0) > 0 && room(c) > 0)
    if (spare <= 0 || growing.length === 0) break
    const weight = growing.reduce((sum, c) => sum + (c.flex ?? 0), 0)
    let given = 0
    for (const c of growing) {
      const share = Math.min(
        room(c),
        Math.max(1, Math.floor((spare * (c.flex ?? 0)) / weight)),
        spare - given,
      )
      c.width += share
      given += share
      if (given >= spare) break
    }
    spare -= given
  }
  return fitted
}

/** The header line of fitted columns. */
export function headerLine<R>(columns: readonly FittedColumn<R>[]): string {
  return joinCells(columns, (c) => c.title).trimEnd()
}

/** One row of fitted columns. */
export function rowLine<R>(columns: readonly FittedColumn<R>[], row: R): string {
  return joinCells(columns, (c) => c.cell(row, c.width)).trimEnd()
}

function joinCells<R>(columns: readonly FittedColumn<R>[], text: (c: FittedColumn<R>) => string): string {
  return columns.map((c) => fitWidth(text(c), c.width, c.align ?? 'left')).join(' '.repeat(GAP))
}
