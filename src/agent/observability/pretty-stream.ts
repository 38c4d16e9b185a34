/**
 * A pino destination that turns each JSON line into one readable line for a terminal:
 *
 *   14:03:07.412 INFO  mesh: connected peer=12D3KooW… epoch=4
 *
 * followed, for an error, by its stack indented below. (pino-pretty does the same with
 * more options; it is not a dependency.) A line that is not JSON is passed through as is.
 */
import type { DestinationStream } from 'pino'

export interface PrettyStreamOptions {
  destination: { write(chunk: string): unknown }
  /** ANSI colours. */
  colors: boolean
}

const LEVEL_COLORS: Record<string, string> = {
  trace: '\x1b[90m',
  debug: '\x1b[34m',
  info: '\x1b[32m',
  warn: '\x1b[33m',
  error: '\x1b[31m',
  fatal: '\x1b[41m\x1b[97m',
}
const DIM = '\x1b[2m'
const BOLD = '\x1b[1m'
const RESET = '\x1b[0m'

/** Fields shown in the line's fixed parts, or not worth a terminal's width. */
const FIXED = new Set(['level', 'time', 'msg', 'component', 'err', 'pid', 'hostname', 'name'])

export function prettyStream(options: PrettyStreamOptions): DestinationStream {
  return {
    write(chunk: string) {
      let out = ''
      for (const line of chunk.split('\n')) {
        if (line === '') continue
        out += `${prettyLine(line, options.colors)}\n`
      }
      options.destination.write(out)
    },
  }
}

/** One JSON log line as text; the line itself when it is not a JSON object. */
export function prettyLine(line: string, colors: boolean): string {
  let record: Record<string, unknown>
  try {
    const parsed: unknown = JSON.parse(line)
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return line
    record = parsed as Record<string, unknown>
  } catch {
    return line // not ours to judge: show it unchanged
  }
  const paint = (code: string | undefined, text: string) =>
    colors && code != null ? `${code}${text}${RESET}` : text

  const level = typeof record.level === 'string' ? record.level : levelLabel(record.level)
  const parts = [paint(DIM, clock(record.time)), paint(LEVEL_COLORS[level], level.toUpperCase().padEnd(5))]
  if (typeof record.component === 'string') parts.push(paint(BOLD, `${record.component}:`))
  if (record.msg !== undefined) parts.push(String(record.msg))
  for (const [key, value] of Object.entries(record)) {
    if (FIXED.has(key) || value === undefined) continue
    parts.push(`${paint(DIM, `${key}=`)}${fieldValue(value)}`)
  }
  let text = parts.join(' ')
  const err = record.err as { message?: unknown; stack?: unknown; type?: unknown } | undefined
  if (err != null && typeof err === 'object') {
    const stack =
      typeof err.stack === 'string' ? err.stack : `${String(err.type ?? 'Error')}: ${String(err.message)}`
    text += `\n${paint(LEVEL_COLORS.error, indent(stack))}`
  }
  return text
}

function fieldValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)
  return JSON.stringify(value) ?? String(value)
}

function clock(time: unknown): string {
  const date = typeof time === 'string' || typeof time === 'number' ? new Date(time) : new Date()
  if (Number.isNaN(date.getTime())) return String(time)
  const pad = (n: number, width = 2) => String(n).padStart(width, '0')
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
}

/** pino's numeric levels, for lines written without the label formatter. */
function levelLabel(level: unknown): string {
  const labels: Record<number, string> = {
    10: 'trace',
    20: 'debug',
    30: 'info',
    40: 'warn',
    50: 'error',
    60: 'fatal',
  }
  return (typeof level === 'number' ? labels[level] : undefined) ?? String(level)
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')
}
