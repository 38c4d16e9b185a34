/** How decisions name things in their reasons: short ids, quoted lists. */

/** `12D3KooWAbCd…wXyZ`: enough to tell peers apart in a sentence. */
export function shortId(id: string): string {
  return id.length > 20 ? `${id.slice(0, 12)}…${id.slice(-4)}` : id
}

/** `"a"`, `"a" or "b"`, `"a", "b" or "c"`. */
export function oneOf(items: readonly string[]): string {
  const quoted = items.map((item) => JSON.stringify(item))
  if (quoted.length <= 1) return quoted.join('')
  return `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`
}

/** `gpu=1, zone=eu`, or `no labels`. */
export function labelList(labels: Record<string, string>): string {
  const entries = Object.entries(labels)
  return entries.length === 0 ? 'no labels' : entries.map(([k, v]) => `${k}=${v}`).join(', ')
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`
}
