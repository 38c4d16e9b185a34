/**
 * How the workload commands find the local agent: --socket, or --host/--port/--token-file, else
 * the agent's own configuration (its file from --config or $UNDERSTUDY_CONFIG, the environment
 * overrides such as $UNDERSTUDY_CONTROL_SOCKET, its default data directory), so the CLI looks
 * exactly where `understudy agent` with the same config listens.
 */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { type Command, InvalidArgumentError } from 'commander'
import {
  type AgentConfig,
  CONFIG_PATH_ENV,
  DEFAULTS,
  dataDirLayout,
  envName,
  loadConfig,
} from '../../../agent/config/index.ts'
import { type ControlAddress, ControlClient, type ControlClientOptions } from '../../../control/index.ts'
import { AgentUnreachableError, ConfigError, UsageError } from '../../../errors/index.ts'

export interface ConnectionFlags {
  socket?: string | undefined
  host?: string | undefined
  port?: number | undefined
  tokenFile?: string | undefined
  config?: string | undefined
}

/** Where the agent is expected, and why there (for messages). */
export interface ControlTarget {
  address: ControlAddress
  /** The socket path or host:port. */
  label: string
  /** Where the address came from, in words: '--socket', '$UNDERSTUDY_CONTROL_SOCKET', 'the config /etc/…'. */
  source: string
  /** The agent config file in use, if any: the one to start the agent with. */
  configFile: string | undefined
}

export interface ResolveOptions {
  env?: Readonly<Record<string, string | undefined>> | undefined
  cwd?: string | undefined
}

const SOCKET_ENV = envName(['control', 'socket'])

/** Adds the connection options every workload command takes. */
export function withConnectionOptions(command: Command): Command {
  return command
    .option(
      '--socket <path>',
      `the agent's control socket (default: $${SOCKET_ENV}, else <dataDir>/control.sock)`,
    )
    .option('--host <host>', 'reach the agent on loopback TCP instead (with --port and --token-file)')
    .option('--port <port>', "the agent's control port (with --host)", parsePort)
    .option(
      '--token-file <file>',
      "the file holding the agent's control token (default: <dataDir>/control.token)",
    )
    .option(
      '--config <file>',
      `the agent's config file, to find its control address (default: $${CONFIG_PATH_ENV})`,
    )
}

/** Where to reach the agent, from the flags, else from the agent's configuration. */
export async function resolveControlTarget(
  flags: ConnectionFlags,
  options: ResolveOptions = {},
): Promise<ControlTarget> {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const tcpFlags = flags.host !== undefined || flags.port !== undefined || flags.tokenFile !== undefined
  if (flags.socket !== undefined && tcpFlags) {
    throw new UsageError('give either --socket or --host/--port/--token-file, not both')
  }
  const explicitConfig = flags.config === undefined ? undefined : resolve(cwd, flags.config)
  const configFile = explicitConfig ?? nonEmpty(env[CONFIG_PATH_ENV])
  if (flags.socket !== undefined) {
    const socketPath = resolve(cwd, flags.socket)
    return { address: { socketPath }, label: socketPath, source: '--socket', configFile }
  }

  // The config is read only when the flags leave something open: it may not be readable here.
  let config: AgentConfig | undefined
  const agentConfig = async () => {
    config ??= await loadConfig({ path: explicitConfig, env, cwd })
    return config
  }

  if (tcpFlags) {
    const fromConfig =
      flags.port === undefined || flags.tokenFile === undefined ? await agentConfig() : undefined
    const tcp = fromConfig?.control.kind === 'tcp' ? fromConfig.control : undefined
    const host = flags.host ?? tcp?.host ?? DEFAULTS.controlHost
    const port = flags.port ?? tcp?.port
    if (port === undefined) throw new UsageError('--host needs --port (the agent config has no control.port)')
    const tokenFile =
      flags.tokenFile !== undefined
        ? resolve(cwd, flags.tokenFile)
        : (tcp?.tokenFile ?? dataDirLayout(fromConfig!.dataDir).controlToken)
    const token = await readToken(tokenFile)
    return { address: { host, port, token }, label: `${host}:${port}`, source: '--host/--port', configFile }
  }

  const resolved = await agentConfig()
  const control = resolved.control
  const source =
    nonEmpty(env[SOCKET_ENV]) !== undefined && control.kind === 'unix'
      ? `$${SOCKET_ENV}`
      : resolved.file !== undefined
        ? `the config ${resolved.file}`
        : `the default data directory ${resolved.dataDir}`
  const file = resolved.file ?? configFile
  if (control.kind === 'unix') {
    return { address: { socketPath: control.socket }, label: control.socket, source, configFile: file }
  }
  const token = await readToken(control.tokenFile)
  return {
    address: { host: control.host, port: control.port, token },
    label: `${control.host}:${control.port}`,
    source,
    configFile: file,
  }
}

/**
 * A ControlClient for one command, which turns "nobody answers" into a message that says where it
 * looked and how to start the agent.
 */
export class AgentLink {
  readonly client: ControlClient
  readonly target: ControlTarget

  constructor(target: ControlTarget, options: ControlClientOptions = {}) {
    this.target = target
    this.client = new ControlClient(target.address, options)
  }

  static async open(flags: ConnectionFlags, options: ControlClientOptions & ResolveOptions = {}) {
    return new AgentLink(await resolveControlTarget(flags, options), options)
  }

  /** Runs one call; an unreachable agent becomes the helpful error. */
  async call<T>(fn: (client: ControlClient) => Promise<T>): Promise<T> {
    try {
      return await fn(this.client)
    } catch (err) {
      throw err instanceof AgentUnreachableError ? this.unreachable(err) : err
    }
  }

  /** The error to show when the agent does not answer. */
  unreachable(err: Error): AgentUnreachableError {
    const { label, source, configFile } = this.target
    const config = configFile ?? '<file> (see config/agent.example.json)'
    return new AgentUnreachableError(
      label,
      `no understudy agent answers on ${label} (from ${source}): ${why(err)}. ` +
        `Start it with \`understudy agent --config ${config}\`, or point to a running one with ` +
        `--socket, --host/--port or --config`,
      { cause: err },
    )
  }
}

function why(err: Error): string {
  const code = (err.cause as NodeJS.ErrnoException | undefined)?.code
  switch (code) {
    case 'ENOENT':
      return 'there is no socket at that path'
    case 'ECONNREFUSED':
      return 'the connection was refused'
    case 'EACCES':
      return 'permission denied (the socket belongs to another user: run as that user)'
    default:
      return err.message
  }
}

async function readToken(file: string): Promise<string> {
  let token: string
  try {
    token = (await readFile(file, 'utf8')).trim()
  } catch (err) {
    throw new ConfigError(
      `cannot read the agent's control token from ${file}: ${(err as Error).message}; ` +
        "run as the agent's user or pass --token-file",
      { cause: err },
    )
  }
  if (token === '') throw new ConfigError(`the control token file ${file} is empty`)
  return token
}

function parsePort(value: string): number {
  const port = Number(value)
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new InvalidArgumentError('a port number from 1 to 65535')
  }
  return port
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
