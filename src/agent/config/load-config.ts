/**
 * Reads the config file, lays the environment and the caller's overrides over it
 * (defaults < file < environment < overrides), validates the whole and fills in what
 * depends on the machine. Every problem is collected before failing, so one run of the
 * agent tells the admin everything that is wrong.
 */
import { readFile, stat } from 'node:fs/promises'
import { hostname as osHostname } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { z } from 'zod'
import { ConfigError, type ConfigProblem, InvalidConfigError } from '../../errors/index.ts'
import { dataDirLayout } from './data-dir.ts'
import { CONFIG_PATH_ENV, ENV_OVERRIDES, type EnvOverlay, readEnvOverlay } from './env.ts'
import type { AgentConfig, ControlConfig } from './index.ts'
import { JsoncSyntaxError, parseJsonc, type TextPosition } from './jsonc.ts'
import { type ConfigInput, configFileSchema, DEFAULTS, type ParsedConfigFile } from './schema.ts'

export interface ParseConfigOptions {
  /** Where the text came from: named in messages, and the base of relative paths in it. */
  file?: string
  /** Default process.env. */
  env?: Readonly<Record<string, string | undefined>>
  /** Highest precedence, e.g. command-line flags; same shape as the file. */
  overrides?: ConfigInput
  /** Default site; default os.hostname(). */
  hostname?: string
  /** Base of relative paths set by the environment or overrides; default process.cwd(). */
  cwd?: string
}

export interface LoadConfigOptions extends Omit<ParseConfigOptions, 'file'> {
  /** The config file; default $UNDERSTUDY_CONFIG; with neither, only defaults and environment apply. */
  path?: string
}

/** Sections merged key by key; any other value (lists, labels) is replaced whole. */
const SECTIONS = new Set([
  'control',
  'replication',
  'hostPolicy',
  'hostPolicy.caps',
  'hostPolicy.schedule',
  'log',
  'metrics',
])
const CONTROL_TCP_KEYS = ['host', 'port', 'tokenFile']

/** Reads, merges and validates the agent config. Throws ConfigError (InvalidConfigError for bad values). */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<AgentConfig> {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const given = options.path ?? nonEmpty(env[CONFIG_PATH_ENV])
  if (given == null) return build(undefined, undefined, { ...options, env, cwd })

  const file = resolve(cwd, given)
  let text: string
  try {
    const info = await stat(file)
    if (!info.isFile()) throw new ConfigError(`config file ${file} is not a regular file`)
    // The file holds the host policy: if anyone may edit it, anyone may run workloads here.
    if (process.platform !== 'win32' && (info.mode & 0o002) !== 0) {
      throw new ConfigError(
        `config file ${file} is writable by every user, who could then change this agent's host policy; ` +
          `run \`chmod o-w ${file}\``,
      )
    }
    text = await readFile(file, 'utf8')
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`, { cause: err })
  }
  return parseConfig(text, { ...options, env, cwd, file })
}

/** Validates config text (JSON with comments) as loadConfig does, without touching the disk. */
export function parseConfig(text: string, options: ParseConfigOptions = {}): AgentConfig {
  const file = options.file == null ? undefined : resolve(options.cwd ?? process.cwd(), options.file)
  let doc: ReturnType<typeof parseJsonc>
  try {
    doc = parseJsonc(text)
  } catch (err) {
    if (!(err instanceof JsoncSyntaxError)) throw err
    throw new ConfigError(`${file ?? 'config'}:${err.line}:${err.column}: invalid JSON: ${err.reason}`, {
      cause: err,
    })
  }
  return build(file, doc, options)
}

/**
 * The default data directory: $STATE_DIRECTORY (set by systemd's StateDirectory=), else
 * $XDG_STATE_HOME/understudy, else ~/.local/state/understudy.
 */
export function defaultDataDir(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const systemd = nonEmpty(env.STATE_DIRECTORY?.split(':')[0])
  if (systemd != null) return systemd
  const xdg = nonEmpty(env.XDG_STATE_HOME)
  if (xdg != null) return join(xdg, 'understudy')
  const home = nonEmpty(env.HOME)
  return home == null ? undefined : join(home, '.local', 'state', 'understudy')
}

interface Sources {
  file: string | undefined
  positions: Map<string, TextPosition>
  env: EnvOverlay
  overrides: Set<string>
}

type PathKey = string | number

interface Found {
  keys: PathKey[]
  message: string
}

function build(
  file: string | undefined,
  doc: { value: unknown; positions: Map<string, TextPosition> } | undefined,
  options: ParseConfigOptions,
): AgentConfig {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const envOverlay = readEnvOverlay(env)
  const sources: Sources = {
    file,
    positions: doc?.positions ?? new Map(),
    env: envOverlay,
    overrides: new Set(),
  }
  const found: Found[] = envOverlay.problems.map((p) => ({ keys: [...p.path], message: p.message }))

  let raw: Record<string, unknown> = {}
  if (doc != null) {
    if (isPlainObject(doc.value)) raw = doc.value
    else found.push({ keys: [], message: `must be a JSON object { … }, got ${describe(doc.value)}` })
  }
  raw = merge(raw, envOverlay.values, '')
  if (options.overrides != null) {
    recordLeaves(options.overrides as Record<string, unknown>, '', sources.overrides)
    raw = merge(raw, options.overrides as Record<string, unknown>, '')
  }

  const result = configFileSchema.safeParse(raw, { reportInput: true })
  if (!result.success) found.push(...result.error.issues.flatMap(issueProblems))

  let config: AgentConfig | undefined
  if (result.success && found.length === 0) {
    config = finish(result.data, sources, options.hostname ?? osHostname(), cwd, env, found)
  }
  if (config == null || found.length > 0) throw invalid(file, found, sources)
  return deepFreeze(config)
}

/** Fills in values that depend on the machine or on other values, and resolves paths. */
function finish(
  parsed: ParsedConfigFile,
  sources: Sources,
  hostname: string,
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
  found: Found[],
): AgentConfig | undefined {
  const path = (key: string, value: string) =>
    resolve(sourceKind(sources, key) === 'file' && sources.file != null ? dirname(sources.file) : cwd, value)

  const dataDir = parsed.dataDir != null ? path('dataDir', parsed.dataDir) : defaultDataDir(env)
  if (dataDir == null) {
    found.push({
      keys: ['dataDir'],
      message: 'is not set, and there is no STATE_DIRECTORY, XDG_STATE_HOME or HOME to choose a default from',
    })
    return undefined
  }
  const layout = dataDirLayout(dataDir)

  let control: ControlConfig
  const c = parsed.control
  if (c.port != null) {
    control = {
      kind: 'tcp',
      host: c.host ?? DEFAULTS.controlHost,
      port: c.port,
      tokenFile: c.tokenFile != null ? path('control.tokenFile', c.tokenFile) : layout.controlToken,
    }
  } else {
    const socket = c.socket != null ? path('control.socket', c.socket) : layout.controlSocket
    // sun_path holds 108 bytes on Linux (104 on BSDs and macOS), the final NUL included.
    const max = process.platform === 'linux' ? 107 : 103
    const length = Buffer.byteLength(socket)
    if (length > max) {
      found.push({
        keys: [c.socket != null ? 'control' : 'dataDir', ...(c.socket != null ? ['socket'] : [])],
        message:
          `gives the control socket path ${socket}, ${length} bytes long, but a Unix socket path holds at most ` +
          `${max}: set control.socket to a shorter path`,
      })
      return undefined
    }
    control = { kind: 'unix', socket }
  }

  return {
    file: sources.file,
    dataDir,
    listen: parsed.listen,
    announce: parsed.announce,
    bootstrap: parsed.bootstrap,
    mdns: parsed.mdns,
    dhtMode: parsed.dhtMode,
    protocolPrefix: parsed.protocolPrefix,
    site: parsed.site ?? siteFromHostname(hostname),
    org: parsed.org,
    labels: { ...parsed.labels },
    control,
    replication: parsed.replication,
    hostPolicy: parsed.hostPolicy,
    log: parsed.log,
    metrics: parsed.metrics,
  }
}

function issueProblems(issue: z.core.$ZodIssue): Found[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      keys: [...issue.path, key] as PathKey[],
      message: `unknown key${suggestion(issue.path as PathKey[], key)}`,
    }))
  }
  if (issue.code === 'invalid_key') {
    // The record's own message is about the whole object; the key's is the useful one.
    const reason = issue.issues[0]?.message ?? issue.message
    return [{ keys: issue.path as PathKey[], message: `bad key name: ${reason}` }]
  }
  const got = 'input' in issue && issue.input !== undefined ? `, got ${describe(issue.input)}` : ''
  return [{ keys: issue.path as PathKey[], message: issue.message + got }]
}

/** '(did you mean "heartbeatMs"?)' for a typo of a sibling key or a key that belongs elsewhere. */
function suggestion(parent: PathKey[], key: string): string {
  const prefix = parent.join('.')
  const leaves = ENV_OVERRIDES.map((o) => o.path.join('.'))
  const siblings = new Set(
    leaves
      .filter((l) => prefix === '' || l.startsWith(`${prefix}.`))
      .map((l) => l.slice(prefix === '' ? 0 : prefix.length + 1).split('.')[0]!),
  )
  const close = [...siblings].find((s) => s.toLowerCase() === key.toLowerCase() || editDistance(s, key) <= 2)
  if (close != null) return ` (did you mean "${close}"?)`
  const elsewhere = leaves.find((l) => l.split('.').at(-1)!.toLowerCase() === key.toLowerCase())
  return elsewhere != null ? ` (did you mean ${elsewhere}?)` : ''
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1))
      diagonal = above
    }
  }
  return row[b.length]!
}

function invalid(file: string | undefined, found: Found[], sources: Sources): InvalidConfigError {
  const problems: ConfigProblem[] = found.map((f) => ({
    path: formatPath(f.keys),
    message: f.message,
    source: sourceOf(sources, f.keys),
  }))
  const lines = problems.map(
    (p) => `${p.path === '' ? '(whole file)' : p.path}: ${p.message}${where(p.source)}`,
  )
  const what =
    file != null ? `invalid config in ${file}` : 'invalid config (no file: defaults and environment)'
  const message =
    lines.length === 1
      ? `${what}: ${lines[0]}`
      : `${what}, ${lines.length} problems:\n${lines.map((l) => `  - ${l}`).join('\n')}`
  return new InvalidConfigError(message, file, problems)
}

function where(source: string): string {
  if (source === 'default') return ''
  if (source === 'overrides') return ' (set by overrides)'
  if (source.startsWith('line ')) return ` (at ${source})`
  return ` (from ${source})`
}

function sourceKind(sources: Sources, dotted: string): 'env' | 'overrides' | 'file' | 'default' {
  const source = sourceOf(sources, dotted.split('.'))
  if (source === 'default' || source === 'overrides') return source
  return source.startsWith('line ') ? 'file' : 'env'
}

/** Where the value at `keys` (or its nearest parent that was set) came from. */
function sourceOf(sources: Sources, keys: readonly PathKey[]): string {
  const parts = keys.map(String)
  const unreadable = sources.env.problems.find((p) => p.path.join('.') === parts.join('.'))
  if (unreadable != null) return unreadable.name
  for (let n = parts.length; n >= 1; n--) {
    const dotted = parts.slice(0, n).join('.')
    if (sources.overrides.has(dotted)) return 'overrides'
    const name = sources.env.setBy.get(dotted)
    if (name != null) return name
  }
  for (let n = parts.length; n >= 0; n--) {
    const position = sources.positions.get(parts.slice(0, n).join('.'))
    if (position != null && (n > 0 || parts.length === 0))
      return `line ${position.line}, column ${position.column}`
  }
  return 'default'
}

/** `['listen', 1]` → `listen[1]`; odd label names are quoted: `labels["a b"]`. */
function formatPath(keys: readonly PathKey[]): string {
  let out = ''
  for (const key of keys) {
    if (typeof key === 'number') out += `[${key}]`
    else if (/^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`
    else out += `[${JSON.stringify(key)}]`
  }
  return out
}

function describe(value: unknown): string {
  if (Array.isArray(value))
    return value.length === 0 ? 'an empty list' : `a list (${truncate(JSON.stringify(value))})`
  if (value === null) return 'null'
  return truncate(JSON.stringify(value) ?? String(value))
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

function merge(
  base: Record<string, unknown>,
  overlay: Record<string, unknown>,
  prefix: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(overlay)) {
    // An unset command-line flag arrives as undefined: it overrides nothing.
    if (value === undefined) continue
    const path = prefix === '' ? key : `${prefix}.${key}`
    const current = out[key]
    if (SECTIONS.has(path) && isPlainObject(value) && isPlainObject(current)) {
      setOwn(out, key, merge(path === 'control' ? switchControl(current, value) : current, value, path))
    } else {
      setOwn(out, key, value)
    }
  }
  return out
}

/** An overlay that picks the socket drops the file's TCP settings, and the other way round. */
function switchControl(
  base: Record<string, unknown>,
  overlay: Record<string, unknown>,
): Record<string, unknown> {
  const out = { ...base }
  if (overlay.socket !== undefined) for (const k of CONTROL_TCP_KEYS) delete out[k]
  if (CONTROL_TCP_KEYS.some((k) => overlay[k] !== undefined)) delete out.socket
  return out
}

function recordLeaves(value: Record<string, unknown>, prefix: string, into: Set<string>): void {
  for (const [key, child] of Object.entries(value)) {
    if (child === undefined) continue
    const path = prefix === '' ? key : `${prefix}.${key}`
    if (SECTIONS.has(path) && isPlainObject(child)) recordLeaves(child, path, into)
    else into.add(path)
  }
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A host name usable as a site name. */
function siteFromHostname(hostname: string): string {
  const cleaned = hostname
    .split('.')[0]!
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64)
  return cleaned === '' ? 'default' : cleaned
}

function nonEmpty(value: string | undefined): string | undefined {
  return value == null || value === '' ? undefined : value
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
