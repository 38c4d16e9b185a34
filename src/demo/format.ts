/** Small text helpers for the demo's account: short peer ids, durations, aligned columns. */

/** `12D3…a1b2c3`: enough to tell peers apart on one screen. */
export function shortId(peerId: string): string {
  return peerId.length <= 12 ? peerId : `${peerId.slice(0, 4)}…${peerId.slice(-6)}`
}

export function ms(value: number | undefined): string {
  return value === undefined ? '?' : `${Math.round(value)} ms`
}

/** Pads each cell to its column's width; the last cell is not padded. */
export function columns(cells: (string | number)[], widths: number[]): string {
  return cells
    .map((cell, i) => (i === cells.length - 1 ? String(cell) : String(cell).padEnd(widths[i] ?? 10)))
    .join('')
}

export function median(values: number[]): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

export function reasonOf(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason)
}
