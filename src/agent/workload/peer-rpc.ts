/**
 * What agents ask each other about workloads, over the mesh messenger: topics and their JSON bodies,
 * validated on arrival (a peer's bytes are untrusted input). Group protocol messages travel one-way on
 * GROUP_TOPIC; everything else is request/response.
 */
import { z } from 'zod'
import { BadRequestError } from '../../errors/index.ts'
import { workloadSpecSchema } from './spec.ts'

export const GROUP_TOPIC = 'group/1'
/** One-way: a member tells the others (and the placing agent) what happened to the workload here. */
export const EVENTS_TOPIC = 'workload-events/1'

export const TOPICS = {
  host: 'workload/host/1',
  stop: 'workload/stop/1',
  status: 'workload/status/1',
  stdin: 'workload/stdin/1',
  logs: 'workload/logs/1',
  failover: 'workload/failover/1',
  checkpoint: 'workload/checkpoint/1',
  /** A member asks the primary to replace it (its owner is back, a cap was hit). */
  leave: 'workload/leave/1',
} as const

const name = z.string().min(1).max(63)

export const hostRequestSchema = z.strictObject({
  spec: workloadSpecSchema,
  /** The module, base64 (its hash is checked against spec.imageHash). */
  image: z.base64(),
  /** Start an election at once: the placement chose this member as the first primary. */
  campaign: z.boolean().default(false),
  /** Join an existing group as a learner (repair): the spec lists the voters and this new member. */
  join: z.boolean().default(false),
})
export const nameRequestSchema = z.strictObject({ name })
export const stopRequestSchema = z.strictObject({ name, keepData: z.boolean() })
export const stdinRequestSchema = z.strictObject({ name, data: z.base64(), eof: z.boolean() })
export const logsRequestSchema = z.strictObject({ name, from: z.number().int().min(0) })
export const checkpointRequestSchema = z.strictObject({ name, seq: z.number().int().min(1) })
export const checkpointAnswerSchema = z.strictObject({ seq: z.number(), data: z.base64() })
export const failoverRequestSchema = z.strictObject({ name, to: z.string().min(1).max(128).optional() })

/** A member's view of itself, for `ps` anywhere in the mesh. */
export const replicaReportSchema = z.strictObject({
  peerId: z.string(),
  site: z.string(),
  role: z.string(),
  epoch: z.number(),
  leader: z.string().nullable(),
  commitSeq: z.number(),
  appliedSeq: z.number(),
  lastSeq: z.number(),
  /** The group's members and learners as this member's latest configuration has them. */
  members: z.array(z.string()).max(32),
  /** The member's own checkpoint (0: none); its log starts right after it. */
  checkpointSeq: z.number(),
  live: z.boolean(),
  uptimeMs: z.number(),
  digest: z.enum(['agree', 'diverged', 'unknown']),
  divergedAtSeq: z.number().nullable(),
  /** On the primary: each shadow's acknowledged seq. */
  followers: z.array(
    z.strictObject({
      member: z.string(),
      matchSeq: z.number(),
      recentActive: z.boolean(),
      /** How old the oldest entry it has not acknowledged is, ms (0: caught up). */
      lagMs: z.number(),
    }),
  ),
  ended: z.string().nullable(),
  /** The last time the primary role moved to this member. */
  lastFailover: z
    .strictObject({
      at: z.number(),
      from: z.string().optional(),
      to: z.string(),
      epoch: z.number(),
      reason: z.enum(['drill', 'failure', 'lost-quorum']),
      tookMs: z.number(),
    })
    .nullable(),
})
export type ReplicaReport = z.infer<typeof replicaReportSchema>

export const stdinAnswerSchema = z.strictObject({ accepted: z.number(), seq: z.number() })
export const logsAnswerSchema = z.strictObject({
  chunks: z.array(
    z.strictObject({
      offset: z.number(),
      seq: z.number(),
      stream: z.enum(['stdout', 'stderr']),
      data: z.string(),
    }),
  ),
  next: z.number(),
  ended: z.boolean(),
})
export const failoverAnswerSchema = z.strictObject({
  from: z.string(),
  to: z.string(),
  epoch: z.number(),
  tookMs: z.number(),
})

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeJson(value: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(value))
}

/** Parses a peer's JSON body; anything malformed is a BadRequestError naming the field. */
export function decodeJson<S extends z.ZodType>(schema: S, bytes: Uint8Array, what: string): z.output<S> {
  let value: unknown
  try {
    value = JSON.parse(utf8Decoder.decode(bytes))
  } catch (err) {
    throw new BadRequestError(`${what}: not JSON (${(err as Error).message})`)
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new BadRequestError(`${what}: ${issue?.path.join('.') || '(root)'} ${issue?.message}`)
  }
  return parsed.data
}

/** Group messages are tagged with their workload: name length (1 byte), name, message bytes. */
export function tagGroupMessage(workload: string, message: Uint8Array): Uint8Array {
  const nameBytes = utf8.encode(workload)
  const out = new Uint8Array(1 + nameBytes.length + message.length)
  out[0] = nameBytes.length
  out.set(nameBytes, 1)
  out.set(message, 1 + nameBytes.length)
  return out
}

export function untagGroupMessage(bytes: Uint8Array): { workload: string; message: Uint8Array } {
  const n = bytes[0] ?? 0
  if (n === 0 || bytes.length < 1 + n) throw new BadRequestError('a group message without a workload name')
  let workload: string
  try {
    workload = utf8Decoder.decode(bytes.subarray(1, 1 + n))
  } catch {
    throw new BadRequestError('a group message whose workload name is not UTF-8')
  }
  return { workload, message: bytes.subarray(1 + n) }
}

/** The workload events a member shares with the rest of its group; checked on arrival. */
export const sharedEventSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('promotion'),
    workload: name,
    peerId: z.string().max(128),
    epoch: z.number().int().min(0),
    tookMs: z.number().min(0),
    detectionMs: z.number().min(0).optional(),
    electionMs: z.number().min(0).optional(),
    promotionMs: z.number().min(0).optional(),
  }),
  z.strictObject({
    type: z.literal('step-down'),
    workload: name,
    peerId: z.string().max(128),
    epoch: z.number().int().min(0),
    reason: z.string().max(200),
  }),
  z.strictObject({
    type: z.literal('divergence'),
    workload: name,
    peerId: z.string().max(128),
    seq: z.number().int(),
    expected: z.string().max(2000),
    got: z.string().max(2000),
  }),
  z.strictObject({
    type: z.literal('repair'),
    workload: name,
    peerId: z.string().max(128),
    phase: z.enum(['started', 'done', 'failed']),
    reason: z.string().max(500).optional(),
  }),
])
export type SharedEvent = z.infer<typeof sharedEventSchema>
