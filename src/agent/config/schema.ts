/**
 * The zod schema of the agent config file. Every key has a default, so `{}` is a valid
 * file. Messages are written for the person editing the file; the loader appends what it
 * found ('got "fast"') and where. Values that depend on other values or on the machine
 * (dataDir, control socket, site) are filled in by the loader, not here.
 */
import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { isLoopbackHost } from './loopback.ts'

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const
export const DHT_MODES = ['server', 'client'] as const

/** Defaults of the scalar settings; documented in config/README.md. */
export const DEFAULTS = {
  listen: ['/ip4/0.0.0.0/tcp/0'],
  mdns: true,
  dhtMode: 'server',
  protocolPrefix: 'understudy',
  controlHost: '127.0.0.1',
  replication: {
    heartbeatMs: 100,
    electionTimeoutMs: 1000,
    repairGraceMs: 300_000,
    checkpointEveryEntries: 10_000,
  },
  caps: { maxWorkloads: 4, maxMemoryMiB: 2048, cpuShare: 0.5, maxDiskMiB: 10_240 },
  log: { level: 'info', format: 'auto' },
  metrics: { enabled: false, host: '127.0.0.1', port: 9464 },
} as const

/** An election timeout shorter than this many heartbeats fires on ordinary jitter. */
export const MIN_HEARTBEATS_PER_ELECTION_TIMEOUT = 3

const isPositiveInt = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n > 0

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/

function int(min: number, max: number, what: string) {
  const error = `must be ${what}`
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error })
}

const positiveInt = () => int(1, Number.MAX_SAFE_INTEGER, 'a positive integer')
const port = (min: number) => int(min, 65_535, `an integer port number from ${min} to 65535`)
const bool = () => z.boolean({ error: 'must be true or false' })
const nonEmpty = (what = 'a non-empty string') =>
  z.string({ error: `must be ${what}` }).min(1, { error: `must be ${what}` })
const name = (what: string) =>
  z
    .string({ error: `must be ${what}` })
    .max(64, { error: `must be ${what} of at most 64 characters` })
    .regex(NAME, {
      error: `must be ${what}: letters, digits, '.', '_' or '-', starting with a letter or digit`,
    })
const list = <T extends z.ZodType>(item: T) => z.array(item, { error: 'must be a list' })

const multiaddrString = (extra?: (addr: ReturnType<typeof multiaddr>) => string | undefined) =>
  z
    .string({ error: 'must be a multiaddr string such as "/ip4/0.0.0.0/tcp/4710"' })
    .superRefine((value, ctx) => {
      let addr: ReturnType<typeof multiaddr>
      try {
        addr = multiaddr(value)
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          message: `is not a valid multiaddr (${(err as Error).message})`,
          input: value,
        })
        return
      }
      const problem = extra?.(addr)
      if (problem != null) ctx.addIssue({ code: 'custom', message: problem, input: value })
    })

const bootstrapAddr = multiaddrString((addr) => {
  const p2p = addr.getComponents().find((c) => c.name === 'p2p')
  return p2p == null ? 'must end in /p2p/<peer id> so the agent knows whom it dials' : undefined
})

/**
 * A user: a user id (the Ed25519 peer id of the user's key, as src/policy/keys.ts defines it), or
 * the public key itself in libp2p's protobuf encoding (base64 or hex), kept as its user id.
 */
const user = z.string({ error: 'must be a peer id or a public key (string)' }).transform((value, ctx) => {
  if (value === '*') return value
  const id = userPeerId(value)
  if (id == null) {
    ctx.addIssue({
      code: 'custom',
      message:
        'must be "*", a user id (an Ed25519 peer id, 12D3KooW…) or an Ed25519 public key (protobuf, base64 or hex)',
      input: value,
    })
    return z.NEVER
  }
  return id
})

function userPeerId(value: string): string | undefined {
  try {
    const id = peerIdFromString(value)
    return id.type === 'Ed25519' ? id.toString() : undefined
  } catch {
    // not a peer id: try a public key below
  }
  const bytes = /^(?:[0-9a-fA-F]{2})+$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64')
  if (bytes.length < 32) return undefined
  try {
    const key = publicKeyFromProtobuf(bytes)
    return key.type === 'Ed25519' ? peerIdFromPublicKey(key).toString() : undefined
  } catch {
    return undefined
  }
}

const org = z.union([z.literal('*'), name('an org name or "*"')], { error: 'must be an org name or "*"' })

const hourRange = z
  .strictObject(
    { from: int(0, 23, 'an hour from 0 to 23'), to: int(1, 24, 'an hour from 1 to 24') },
    { error: 'must be an object { "from": hour, "to": hour }' },
  )
  .refine((r) => r.from !== r.to, { error: 'from and to must differ (leave hours empty for all day)' })

const controlSchema = z
  .strictObject(
    {
      socket: nonEmpty('a path').optional(),
      host: nonEmpty('a host name or IP address').optional(),
      port: port(1).optional(),
      tokenFile: nonEmpty('a path').optional(),
    },
    { error: 'must be an object: { "socket": path } or { "host", "port", "tokenFile" }' },
  )
  .prefault({})
  .superRefine((c, ctx) => {
    // zod runs this even when a field failed above: an invalid host was reported already.
    const tcp = c.host != null || c.port != null || c.tokenFile != null
    if (c.socket != null && tcp) {
      ctx.addIssue({
        code: 'custom',
        message: 'give either "socket" (a Unix socket) or "host"/"port"/"tokenFile" (TCP), not both',
        input: c,
      })
    } else if (tcp && c.port == null) {
      ctx.addIssue({
        code: 'custom',
        path: ['port'],
        message: 'is needed when the control API listens on TCP',
      })
    } else if (typeof c.host === 'string' && !isLoopbackHost(c.host) && c.tokenFile == null) {
      ctx.addIssue({
        code: 'custom',
        path: ['host'],
        message:
          'is not a loopback address: the control API starts and stops workloads, so listening beyond this ' +
          'machine needs control.tokenFile set explicitly (or use 127.0.0.1, or a Unix socket)',
        input: c.host,
      })
    }
  })

export const configFileSchema = z
  .strictObject(
    {
      /** Editors' JSON schema hint; ignored. */
      $schema: z.string().optional(),
      dataDir: nonEmpty('a path').optional(),
      listen: list(multiaddrString()).default([...DEFAULTS.listen]),
      announce: list(multiaddrString()).default([]),
      bootstrap: list(bootstrapAddr).default([]),
      mdns: bool().default(DEFAULTS.mdns),
      dhtMode: z
        .enum(DHT_MODES, { error: `must be one of ${DHT_MODES.join(', ')}` })
        .default(DEFAULTS.dhtMode),
      protocolPrefix: name('a protocol prefix').default(DEFAULTS.protocolPrefix),
      site: name('a site name').optional(),
      org: name('an org name').optional(),
      labels: z
        .record(
          z
            .string()
            .max(63, { error: 'label names have at most 63 characters' })
            .regex(LABEL_KEY, { error: "label names use letters, digits, '.', '_', '/' or '-'" }),
          z
            .string({ error: 'must be a string' })
            .max(256, { error: 'must be a string of at most 256 characters' }),
          { error: 'must be an object of string labels, such as { "room": "B204" }' },
        )
        .default({}),
      control: controlSchema,
      replication: z
        .strictObject(
          {
            heartbeatMs: positiveInt().default(DEFAULTS.replication.heartbeatMs),
            electionTimeoutMs: positiveInt().default(DEFAULTS.replication.electionTimeoutMs),
            repairGraceMs: positiveInt().default(DEFAULTS.replication.repairGraceMs),
            checkpointEveryEntries: positiveInt().default(DEFAULTS.replication.checkpointEveryEntries),
          },
          { error: 'must be an object' },
        )
        .prefault({})
        .superRefine((r, ctx) => {
          // zod runs this even when a field failed above: judge only valid values.
          if (!isPositiveInt(r.heartbeatMs) || !isPositiveInt(r.electionTimeoutMs)) return
          const min = r.heartbeatMs * MIN_HEARTBEATS_PER_ELECTION_TIMEOUT
          if (r.electionTimeoutMs < min) {
            ctx.addIssue({
              code: 'custom',
              path: ['electionTimeoutMs'],
              message: `must be at least ${MIN_HEARTBEATS_PER_ELECTION_TIMEOUT} × replication.heartbeatMs (${min})`,
              input: r.electionTimeoutMs,
            })
          }
        }),
      hostPolicy: z
        .strictObject(
          {
            allowUsers: list(user).default([]),
            allowOrgs: list(org).default([]),
            caps: z
              .strictObject(
                {
                  maxWorkloads: int(0, 10_000, 'an integer from 0 to 10000').default(
                    DEFAULTS.caps.maxWorkloads,
                  ),
                  maxMemoryMiB: positiveInt().default(DEFAULTS.caps.maxMemoryMiB),
                  cpuShare: z
                    .number({ error: 'must be a fraction of the CPU above 0, at most 1' })
                    .gt(0, { error: 'must be a fraction of the CPU above 0, at most 1' })
                    .max(1, { error: 'must be a fraction of the CPU above 0, at most 1' })
                    .default(DEFAULTS.caps.cpuShare),
                  maxDiskMiB: positiveInt().default(DEFAULTS.caps.maxDiskMiB),
                },
                { error: 'must be an object' },
              )
              .prefault({}),
            schedule: z
              .strictObject(
                { idleOnly: bool().default(false), hours: list(hourRange).default([]) },
                { error: 'must be an object' },
              )
              .prefault({}),
            allowWitness: bool().default(true),
          },
          { error: 'must be an object' },
        )
        .prefault({}),
      log: z
        .strictObject(
          {
            level: z
              .enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` })
              .default(DEFAULTS.log.level),
            format: z
              .enum(LOG_FORMATS, { error: `must be one of ${LOG_FORMATS.join(', ')}` })
              .default(DEFAULTS.log.format),
          },
          { error: 'must be an object' },
        )
        .prefault({}),
      metrics: z
        .strictObject(
          {
            enabled: bool().default(DEFAULTS.metrics.enabled),
            host: nonEmpty('a host name or IP address').default(DEFAULTS.metrics.host),
            port: port(0).default(DEFAULTS.metrics.port),
          },
          { error: 'must be an object' },
        )
        .prefault({}),
    },
    { error: 'must be a JSON object' },
  )
  .prefault({})

/** What a config file (or the `overrides` of loadConfig) may hold. */
export type ConfigInput = z.input<typeof configFileSchema>
export type ParsedConfigFile = z.output<typeof configFileSchema>
