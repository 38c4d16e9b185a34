/** Compact words for numbers the workload commands print: peer ids, durations, sizes. */

/** The tail of a peer id: the common `12D3KooW` prefix tells peers apart no better than nothing. */
export function shortPeerId(peerId: string): string {
  return peerId.length <= 10 ? peerId : `…${peerId.slice(-6)}`
}

/** 850ms, 4.2s, 42s, 3m07s, 5h02m, 2d03h. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-'
  if (ms < 1_000) return `${Math.round(ms)}ms`
  const s = ms / 1_000
  if (s < 10) return `${s.toFixed(1)}s`
  if (s < 60) return `${Math.floor(s)}s`
  const total = Math.floor(s)
  const pad = (n: number) => String(n).padStart(2, '0')
  if (total < 3_600) return `${Math.floor(total / 60)}m${pad(total % 60)}s`
  if (total < 86_400) return `${Math.floor(total / 3_600)}h${pad(Math.floor(total / 60) % 60)}m`
  return `${Math.floor(total / 86_400)}d${pad(Math.floor(total / 3_600) % 24)}h`
}

/** 512M, 15.6G. */
export function formatMiB(mib: number): string {
  return mib < 1_024 ? `${Math.round(mib)}M` : `${(mib / 1_024).toFixed(1)}G`
}

/** `1 replica`, `3 replicas`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}
