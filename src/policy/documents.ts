/**
 * The policy documents as users write them, validated with zod: the workload manifest
 * with its owner's data policy, and a machine's host policy. Every refusal names the
 * first bad field, so `understudy run` and `understudy agent` can say what to fix.
 */
import { type ZodError, z } from 'zod'
import { ManifestInvalidError, PolicyInvalidError } from '../errors/index.ts'
import { isPeerId, isUserId } from './keys.ts'

/** Orgs, sites: printable text without quotes or backslashes (they end up in Cedar text). */
const NAME = /^[^"\\\u0000-\u001f\u007f]{1,128}$/
const name = z.string().regex(NAME, 'must be 1-128 printable characters without quotes or backslashes')
const labelKey = z
  .string()
  .regex(/^[^"\\\u0000-\u001f\u007f]{1,64}$/, 'label keys are 1-64 printable characters')
const labelValue = z
  .string()
  .regex(/^[^"\\\u0000-\u001f\u007f]{0,256}$/, 'label values are 0-256 printable characters')
const labels = z
  .record(labelKey, labelValue)
  .refine((value) => Object.keys(value).length >= 1 && Object.keys(value).length <= 64, '1 to 64 labels')
const peerId = z.string().refine(isPeerId, 'must be a peer id (12D3KooW…)')
const userId = z.string().refine(isUserId, 'must be a user id: an Ed25519 peer id (12D3KooW…)')
const list = <T extends z.ZodType>(item: T) =>
  z.array(item).min(1, 'omit the field instead of an empty list').max(1024)
const mib = z
  .int()
  .min(0)
  .max(2 ** 40)

/** Which peers: a peer matches when it meets every field given (labels: every key=value). */
const peerSelector = z.strictObject({
  peers: list(peerId).optional(),
  orgs: list(name).optional(),
  sites: list(name).optional(),
  labels: labels.optional(),
})

/** The owner's rules for where the workload's data may go. */
export const dataPolicySchema = z.strictObject({
  /** Every given field must hold for a peer to hold the data; absent: any peer. */
  allow: peerSelector.default({}),
  /** A peer that matches any given field may not hold the data. */
  deny: peerSelector.default({}),
  /** Replicas must span at least this many distinct sites. */
  minSites: z.int().min(1).max(64).default(1),
})

export const manifestSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be 1-63 of a-z 0-9 . _ - starting with a letter or digit'),
    image: z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits') }),
    /** Replication factor: the primary and its shadows. */
    replicas: z.int().min(1).max(64),
    /** The owner's user id; the manifest must be signed with this key. */
    owner: userId,
    dataPolicy: dataPolicySchema,
    resources: z
      .strictObject({ memoryMiB: mib.min(1).default(64), diskMiB: mib.default(256) })
      .default({ memoryMiB: 64, diskMiB: 256 }),
    createdAt: z.iso.datetime({ offset: true }),
  })
  .superRefine((manifest, ctx) => {
    if (manifest.dataPolicy.minSites > manifest.replicas) {
      ctx.addIssue({
        code: 'custom',
        path: ['dataPolicy', 'minSites'],
        message: `${manifest.dataPolicy.minSites} distinct sites cannot hold ${manifest.replicas} replicas`,
      })
    }
  })

const whose = z
  .strictObject({ users: list(userId).optional(), orgs: list(name).optional() })
  .refine((value) => value.users != null || value.orgs != null, 'give users, orgs or both')

/** Local hours [from, to), wrapping past midnight when from > to. */
const hourRange = z
  .strictObject({ from: z.int().min(0).max(23), to: z.int().min(0).max(24) })
  .refine((h) => h.from !== h.to % 24, 'from and to must differ (omit hours for all day)')

/** The machine admin's rules for this host. */
export const hostPolicySchema = z.strictObject({
  /** Whose workloads may run here; absent: anyone's. */
  allow: whose.optional(),
  /** Whose workloads may never run here. */
  deny: whose.optional(),
  caps: z
    .strictObject({
      maxWorkloads: z.int().min(0).max(100_000).optional(),
      maxMemoryMiB: mib.optional(),
      maxDiskMiB: mib.optional(),
      /** Fraction of this machine's CPU that hosted workloads may use together. */
      cpuShare: z.number().gt(0).max(1).optional(),
    })
    .default({}),
  schedule: z
    .strictObject({
      /** Only while the machine's owner is idle (away). */
      idleOnly: z.boolean().default(false),
      /** Local hours [from, to), wrapping past midnight when from > to; or a list of such windows. */
      hours: z.union([hourRange, z.array(hourRange).min(1, 'omit hours for all day').max(24)]).optional(),
    })
    .default({ idleOnly: false }),
  /** false: this machine takes no one's workloads, as replica or witness (absent: true). */
  acceptsWorkloads: z.boolean().optional(),
  /** May this machine vote as a witness for other peers' workloads (it holds no data). */
  witness: z.boolean().default(true),
  /** Users who may control any workload on this host, besides each workload's owner. */
  admins: list(userId).optional(),
  /** Peers refused at connection time. */
  blockPeers: list(peerId).optional(),
  /** Extra policies in Cedar, validated against the schema at load (the caller reads the file). */
  cedar: z
    .string()
    .max(1024 * 1024)
    .optional(),
})

export type DataPolicy = z.output<typeof dataPolicySchema>
export type DataPolicyInput = z.input<typeof dataPolicySchema>
export type PeerSelector = DataPolicy['allow']
export type Manifest = z.output<typeof manifestSchema>
export type ManifestInput = z.input<typeof manifestSchema>
export type HostPolicy = z.output<typeof hostPolicySchema>
export type HostPolicyInput = z.input<typeof hostPolicySchema>

/** Validates a manifest (defaults filled in); throws ManifestInvalidError naming the field. */
export function parseManifest(value: unknown): Manifest {
  const result = manifestSchema.safeParse(value)
  if (result.success) return result.data
  const { field, message } = firstIssue(result.error)
  throw new ManifestInvalidError(field, `manifest field ${field}: ${message}`, { cause: result.error })
}

/** Validates a host policy (defaults filled in); throws PolicyInvalidError naming the field. */
export function parseHostPolicy(value: unknown): HostPolicy {
  const result = hostPolicySchema.safeParse(value)
  if (result.success) return result.data
  const { field, message } = firstIssue(result.error)
  throw new PolicyInvalidError(field, `host policy field ${field}: ${message}`, { cause: result.error })
}

function firstIssue(error: ZodError): { field: string; message: string } {
  const issue = error.issues[0]
  if (issue == null) return { field: '(root)', message: 'invalid' }
  const path = issue.path.map(String)
  if (issue.code === 'unrecognized_keys' && issue.keys[0] != null) {
    return { field: [...path, issue.keys[0]].join('.'), message: 'unknown field' }
  }
  return { field: path.join('.') || '(root)', message: issue.message }
}
