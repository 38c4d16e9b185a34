/**
 * The agent's configuration: one JSON file (comments allowed), environment overrides,
 * defaults for everything. `loadConfig` returns a frozen `AgentConfig` or throws an
 * InvalidConfigError listing every problem with its key path and where it was set.
 * Keys are documented in config/README.md; the data directory in docs/data-dir.md.
 */
import type { LOG_FORMATS, LOG_LEVELS } from './schema.ts'

export type LogLevel = (typeof LOG_LEVELS)[number]
export type LogFormat = (typeof LOG_FORMATS)[number]

export interface AgentConfig {
  /** Absolute path of the file it was read from; undefined when only defaults and environment were used. */
  readonly file: string | undefined
  /** Absolute. See docs/data-dir.md for what lives inside. */
  readonly dataDir: string
  /** libp2p listen multiaddrs. */
  readonly listen: readonly string[]
  /** Multiaddrs to announce instead of the listen addresses (NAT, containers). */
  readonly announce: readonly string[]
  /** Multiaddrs ending in /p2p/<peer id>. */
  readonly bootstrap: readonly string[]
  readonly mdns: boolean
  readonly dhtMode: 'server' | 'client'
  /** Prefix of every protocol id: a private mesh picks its own. */
  readonly protocolPrefix: string
  /** Failure domain: replicas of a workload go to distinct sites. Default: the host name. */
  readonly site: string
  readonly org: string | undefined
  readonly labels: Readonly<Record<string, string>>
  readonly control: ControlConfig
  readonly replication: ReplicationConfig
  readonly hostPolicy: HostPolicyConfig
  readonly log: LogConfig
  readonly metrics: MetricsConfig
}

/** The local control API: a Unix socket (default, `<dataDir>/control.sock`) or loopback TCP with a token. */
export type ControlConfig = UnixControlConfig | TcpControlConfig

export interface UnixControlConfig {
  readonly kind: 'unix'
  /** Absolute path. */
  readonly socket: string
}

export interface TcpControlConfig {
  readonly kind: 'tcp'
  readonly host: string
  readonly port: number
  /** Absolute path of the bearer token clients must send (default `<dataDir>/control.token`). */
  readonly tokenFile: string
}

/** Timings of replica groups; the agent converts them to the group's ticks. */
export interface ReplicationConfig {
  /** An idle primary sends a heartbeat this often. */
  readonly heartbeatMs: number
  /** A shadow that heard nothing from the primary for this long starts an election. */
  readonly electionTimeoutMs: number
  /** A member gone this long is replaced on another host. */
  readonly repairGraceMs: number
  /** A checkpoint is taken every this many entries. */
  readonly checkpointEveryEntries: number
}

/** The machine admin's rules: whose workloads run here, how much, and when. */
export interface HostPolicyConfig {
  /** User ids (Ed25519 peer ids) whose workloads may run here; '*' admits every user. */
  readonly allowUsers: readonly string[]
  /** Orgs whose members' workloads may run here; '*' admits every org. */
  readonly allowOrgs: readonly string[]
  readonly caps: HostCaps
  readonly schedule: HostSchedule
  /** May this machine be a witness (votes, holds only ciphertext)? */
  readonly allowWitness: boolean
}

export interface HostCaps {
  readonly maxWorkloads: number
  /** Sum of the guests' linear memory, MiB. */
  readonly maxMemoryMiB: number
  /** Fraction of the machine's CPU time, in (0, 1]. */
  readonly cpuShare: number
  /** Logs, checkpoints and module cache of hosted workloads, MiB. */
  readonly maxDiskMiB: number
}

export interface HostSchedule {
  /** Host replicas only while the machine's owner is not using it. */
  readonly idleOnly: boolean
  /** Local-time hour ranges when hosting is allowed; empty = all day. */
  readonly hours: readonly HourRange[]
}

/** From `from`:00 up to (not including) `to`:00 local time; wraps past midnight when from > to. */
export interface HourRange {
  readonly from: number
  readonly to: number
}

export interface LogConfig {
  readonly level: LogLevel
  /** 'auto': readable on a terminal, JSON lines otherwise. */
  readonly format: LogFormat
}

export interface MetricsConfig {
  readonly enabled: boolean
  readonly host: string
  /** 0 picks a free port (tests). */
  readonly port: number
}

export type { ConfigProblem } from '../../errors/index.ts'
export type { DataDirLayout, PrepareDataDirOptions } from './data-dir.ts'
export { dataDirLayout, prepareDataDir } from './data-dir.ts'
export type { EnvKind, EnvOverride } from './env.ts'
export { CONFIG_PATH_ENV, ENV_OVERRIDES, envName } from './env.ts'
export type { LoadConfigOptions, ParseConfigOptions } from './load-config.ts'
export { defaultDataDir, loadConfig, parseConfig } from './load-config.ts'
export { isLoopbackHost } from './loopback.ts'
export type { ConfigInput } from './schema.ts'
export { DEFAULTS, LOG_FORMATS, LOG_LEVELS } from './schema.ts'
export type { StoreVersionStatus } from './versions.ts'
export { assertStoreVersion, PROTOCOLS, STORE_FORMAT_VERSION, WIRE_VERSIONS } from './versions.ts'
