/**
 * Structured logging on pino. JSON lines (for journald, files, log shippers) unless a
 * person is watching: on a terminal, one readable line per record. There is no global
 * logger: the agent creates one and hands children to its components, so a test can
 * give a component a logger that writes where the test reads.
 */
import pino from 'pino'
import type { LogFormat, LogLevel } from '../config/index.ts'
import { prettyStream } from './pretty-stream.ts'

export type Logger = pino.Logger

/** Where log lines go: anything with write(); `isTTY` (as on process.stdout) selects the format in 'auto'. */
export interface LogDestination {
  write(chunk: string): unknown
  isTTY?: boolean
}

export interface CreateLoggerOptions {
  /** Default 'info'; 'silent' writes nothing. */
  level?: LogLevel | 'silent'
  /** Default 'auto': pretty when the destination is a terminal, JSON lines otherwise. */
  format?: LogFormat
  /** The `name` field of every record; default 'understudy'. */
  name?: string
  /** Default standard output (written synchronously, so nothing is lost at exit). */
  destination?: LogDestination
  /** ANSI colours in the pretty format; default when the destination is a terminal and NO_COLOR is unset. */
  colors?: boolean
}

/** Fields never written in clear: the control token may reach a log through a request's headers. */
const REDACT = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
]

/**
 * A root logger. Components take a child: `logger.child({ component: 'mesh' })`; records
 * carry `level` (a label: trace…fatal), `time` (ISO 8601), `msg`, `name`, `pid`, `hostname`
 * and the child's bindings. Errors go under `err` (`logger.error({ err }, 'msg')`).
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const destination = options.destination ?? stdout()
  const isTTY =
    options.destination != null ? options.destination.isTTY === true : process.stdout.isTTY === true
  const format = options.format ?? 'auto'
  const pretty = format === 'pretty' || (format === 'auto' && isTTY)
  const colors = options.colors ?? (isTTY && process.env.NO_COLOR == null)

  const stream = pretty
    ? prettyStream({ destination, colors })
    : { write: (s: string) => void destination.write(s) }
  return pino(
    {
      name: options.name ?? 'understudy',
      level: options.level ?? 'info',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    stream,
  )
}

/** A logger that writes nothing: for tests and tools that have nowhere to log. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

function stdout(): LogDestination {
  const sink = pino.destination({ dest: 1, sync: true })
  return { write: (chunk) => sink.write(chunk), isTTY: process.stdout.isTTY === true }
}
