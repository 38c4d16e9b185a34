/**
 * Canonical JSON: object keys sorted by code unit, no whitespace, arrays in order. Two
 * parties that hold the same document produce the same bytes, so a signature over them
 * survives any reformatting in between (config files, the wire, a pretty-printer).
 */

/** Serializes plain JSON data canonically; refuses what JSON cannot carry exactly. */
export function canonicalJson(value: unknown): string {
  return write(value, '$')
}

function write(value: unknown, path: string): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${path} is ${value}, which JSON cannot carry`)
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map((item, i) => write(item, `${path}[${i}]`)).join(',')}]`
  if (typeof value === 'object' && isPlain(value)) {
    const keys = Object.keys(value).sort()
    const fields: string[] = []
    for (const key of keys) {
      const field = (value as Record<string, unknown>)[key]
      // An absent optional field and one set to undefined must sign the same.
      if (field === undefined) continue
      fields.push(`${JSON.stringify(key)}:${write(field, `${path}.${key}`)}`)
    }
    return `{${fields.join(',')}}`
  }
  throw new TypeError(`${path} is a ${typeof value}, which is not plain JSON data`)
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
