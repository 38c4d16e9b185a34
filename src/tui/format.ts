/** Short, fixed-width renderings of ids, durations and times for table cells. */

const ELLIPSIS = '…'

/** A peer id shortened to `width` characters: ids share their '12D3KooW' head, so keep the tail. */
export function shortId(id: string | undefined, width = 12): string {
  if (id === undefined) return '-'
  if (id.length <= width) return id
  if (width <= 1) return ELLIPSIS
  return ELLIPSIS + id.slice(id.length - (width - 1))
}

/** A duration in the largest sensible units: 42ms, 1.2s, 3m04s, 2h05m, 3d04h. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-'
  if (ms < 0) return '0ms'
  if (ms < 1_000) return `${Math.round(ms)}ms`
  if (ms < 10_000) return `${(ms / 1_000).toFixed(1)}s`
  const s = Math.floor(ms / 1_000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${pad2(s % 60)}s`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h}h${pad2(m % 60)}m`
  return `${Math.floor(h / 24)}d${pad2(h % 24)}h`
}

/** How long ago `at` was, seen at `now`. */
export function ago(at: number, now: number): string {
  return `${duration(Math.max(0, now - at))} ago`
}

/** Local wall-clock time HH:MM:SS. */
export function clock(at: number): string {
  const d = new Date(at)
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
}

/** Cuts `text` to `width` (marking the cut with …) and pads it to exactly `width`. */
export function fitWidth(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return ''
  const cut = truncate(text, width)
  return align === 'left' ? cut.padEnd(width) : cut.padStart(width)
}

/** Cuts `text` to at most `width` characters, marking the cut with …. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return ''
  if (text.length <= width) return text
  return width === 1 ? ELLIPSIS : text.slice(0, width - 1) + ELLIPSIS
}

/** A byte count in MiB as a short size: 512M, 12.0G, 1.5T. */
export function mib(value: number): string {
  if (value < 1_024) return `${Math.round(value)}M`
  if (value < 1_024 * 1_024) return `${(value / 1_024).toFixed(value < 10_240 ? 1 : 0)}G`
  return `${(value / 1_024 / 1_024).toFixed(1)}T`
}

function pad2(n: number): string {
  return String(n).padStart(2, '0')
}

/** Word-wraps `text` into at most `maxLines` lines of `width`, the last one cut with … if need be. */
export function wrapText(text: string, width: number, maxLines: number): string[] {
  if (width <= 0 || maxLines <= 0) return []
  const lines: string[] = []
  let rest = text.trim()
  while (rest.length > 0 && lines.length < maxLines) {
    if (rest.length <= width) {
      lines.push(rest)
      rest = ''
      break
    }
    if (lines.length === maxLines - 1) {
      lines.push(truncate(rest, width))
      rest = ''
      break
    }
    const space = rest.lastIndexOf(' ', width)
    const cut = space > width / 3 ? space : width
    lines.push(rest.slice(0, cut).trimEnd())
    rest = rest.slice(cut).trimStart()
  }
  return lines
}
