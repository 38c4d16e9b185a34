/**
 * Environment overrides. The rule: `UNDERSTUDY_` followed by the key path, each key
 * camelCase → SCREAMING_SNAKE (a unit such as MiB is one word) and nesting joined by '_'
 * (replication.heartbeatMs → UNDERSTUDY_REPLICATION_HEARTBEAT_MS). Names are generated from the table below, and the
 * table is checked to hold no two keys with the same name.
 *
 * Values are text: numbers and booleans (true/false, 1/0, yes/no, on/off) are converted when
 * they look like one and are otherwise left as text for the schema to refuse with the key's
 * message; lists are comma-separated (or a JSON array), maps `key=value,key=value` (or a JSON
 * object). An empty variable counts as unset.
 */

export type EnvKind = 'string' | 'number' | 'boolean' | 'list' | 'map' | 'json'

export interface EnvOverride {
  name: string
  path: readonly string[]
  kind: EnvKind
}

/** The variable naming the config file when loadConfig gets no `path`. */
export const CONFIG_PATH_ENV = 'UNDERSTUDY_CONFIG'

const PREFIX = 'UNDERSTUDY'

const LEAVES: ReadonlyArray<readonly [string, EnvKind]> = [
  ['dataDir', 'string'],
  ['listen', 'list'],
  ['announce', 'list'],
  ['bootstrap', 'list'],
  ['mdns', 'boolean'],
  ['dhtMode', 'string'],
  ['protocolPrefix', 'string'],
  ['site', 'string'],
  ['org', 'string'],
  ['labels', 'map'],
  ['control.socket', 'string'],
  ['control.host', 'string'],
  ['control.port', 'number'],
  ['control.tokenFile', 'string'],
  ['replication.heartbeatMs', 'number'],
  ['replication.electionTimeoutMs', 'number'],
  ['replication.repairGraceMs', 'number'],
  ['replication.checkpointEveryEntries', 'number'],
  ['hostPolicy.allowUsers', 'list'],
  ['hostPolicy.allowOrgs', 'list'],
  ['hostPolicy.caps.maxWorkloads', 'number'],
  ['hostPolicy.caps.maxMemoryMiB', 'number'],
  ['hostPolicy.caps.cpuShare', 'number'],
  ['hostPolicy.caps.maxDiskMiB', 'number'],
  ['hostPolicy.schedule.idleOnly', 'boolean'],
  ['hostPolicy.schedule.hours', 'json'],
  ['hostPolicy.allowWitness', 'boolean'],
  ['log.level', 'string'],
  ['log.format', 'string'],
  ['metrics.enabled', 'boolean'],
  ['metrics.host', 'string'],
  ['metrics.port', 'number'],
]

/** Every environment override, in documentation order. */
export const ENV_OVERRIDES: readonly EnvOverride[] = LEAVES.map(([dotted, kind]) => {
  const path = dotted.split('.')
  return { name: envName(path), path, kind }
})

/** `['hostPolicy', 'caps', 'maxMemoryMiB']` → `UNDERSTUDY_HOST_POLICY_CAPS_MAX_MEMORY_MIB`. */
export function envName(path: readonly string[]): string {
  // A unit such as MiB is one word: maxMemoryMiB → MAX_MEMORY_MIB.
  const words = path.map((key) =>
    key
      .replace(/MiB/g, 'Mib')
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .toUpperCase(),
  )
  return [PREFIX, ...words].join('_')
}

export interface EnvProblem {
  path: readonly string[]
  name: string
  message: string
}

export interface EnvOverlay {
  /** A partial config holding the values the environment sets. */
  values: Record<string, unknown>
  /** Variables that were set, by the dotted key path they set. */
  setBy: Map<string, string>
  /** Values that could not even be read as their kind (malformed JSON, `a=b` pairs). */
  problems: EnvProblem[]
}

/** Reads the overrides present in `env`. */
export function readEnvOverlay(env: Readonly<Record<string, string | undefined>>): EnvOverlay {
  const overlay: EnvOverlay = { values: {}, setBy: new Map(), problems: [] }
  for (const o of ENV_OVERRIDES) {
    const text = env[o.name]
    if (text == null || text === '') continue
    const converted = convert(text, o.kind)
    if ('problem' in converted) {
      overlay.problems.push({ path: o.path, name: o.name, message: converted.problem })
      continue
    }
    setPath(overlay.values, o.path, converted.value)
    overlay.setBy.set(o.path.join('.'), o.name)
  }
  return overlay
}

type Converted = { value: unknown } | { problem: string }

function convert(text: string, kind: EnvKind): Converted {
  const trimmed = text.trim()
  switch (kind) {
    case 'string':
      return { value: text }
    case 'number':
      return { value: /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed) ? Number(trimmed) : text }
    case 'boolean': {
      const lower = trimmed.toLowerCase()
      if (['true', '1', 'yes', 'on'].includes(lower)) return { value: true }
      if (['false', '0', 'no', 'off'].includes(lower)) return { value: false }
      return { value: text }
    }
    case 'list':
      if (trimmed.startsWith('[')) return json(trimmed, 'a JSON array')
      return {
        value: trimmed
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      }
    case 'map': {
      if (trimmed.startsWith('{')) return json(trimmed, 'a JSON object')
      const map: Record<string, string> = {}
      for (const pair of trimmed.split(',')) {
        if (pair.trim() === '') continue
        const eq = pair.indexOf('=')
        if (eq <= 0) return { problem: `must be key=value pairs separated by commas, got "${pair.trim()}"` }
        Object.defineProperty(map, pair.slice(0, eq).trim(), {
          value: pair.slice(eq + 1).trim(),
          enumerable: true,
          writable: true,
          configurable: true,
        })
      }
      return { value: map }
    }
    case 'json':
      return json(trimmed, 'JSON')
  }
}

function json(text: string, what: string): Converted {
  try {
    return { value: JSON.parse(text) }
  } catch (err) {
    return { problem: `must be ${what} (${(err as Error).message})` }
  }
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    if (typeof next === 'object' && next !== null) {
      node = next as Record<string, unknown>
    } else {
      const created: Record<string, unknown> = {}
      node[key] = created
      node = created
    }
  }
  node[path[path.length - 1]!] = value
}
