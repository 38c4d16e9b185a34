/**
 * A status response is one length-prefixed frame: a version byte, then UTF-8 JSON
 * validated against a bounded schema. JSON keeps it readable and extensible (unknown
 * fields are dropped, so a newer agent can add some); the schema bounds every string
 * and list so a hostile peer cannot make us hold much.
 */
import { z } from 'zod'
import { StatusError } from '../errors.ts'
import { decodeUtf8, encodeUtf8, lengthPrefixed } from '../framing.ts'
import { WIRE_VERSION } from './constants.ts'

const text = (max: number) => z.string().max(max)
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

export const peerStatusSchema = z.object({
  /** Failure domain (a building, a room): replicas go to distinct sites. */
  site: text(128),
  org: text(128),
  labels: z
    .record(text(64), text(256))
    .refine((labels) => Object.keys(labels).length <= 64, 'at most 64 labels'),
  cpu: z.object({
    cores: count.max(65_536),
    /** Idle capacity in cores (0..cores). */
    free: z.number().min(0).max(65_536),
  }),
  memory: z.object({ totalBytes: count, freeBytes: count }),
  /** True when the machine's owner is away: the host may take workloads. */
  ownerIdle: z.boolean(),
  workloads: z.array(z.object({ id: text(256), role: text(32) })).max(1024),
  version: text(64),
  /** The host's policy document as its admin wrote it (opaque here; placement validates it). */
  hostPolicy: z.unknown().optional(),
})

/** What a peer offers, as it reports it. */
export type PeerStatus = z.infer<typeof peerStatusSchema>

export function encodeStatus(status: PeerStatus): Uint8Array {
  const checked = validate(status, 'local status')
  const json = encodeUtf8(JSON.stringify(checked))
  const body = new Uint8Array(1 + json.byteLength)
  body[0] = WIRE_VERSION
  body.set(json, 1)
  return lengthPrefixed(body)
}

export function decodeStatus(body: Uint8Array): PeerStatus {
  if (body[0] !== WIRE_VERSION)
    throw new StatusError(`status wire version ${body[0]}; this agent speaks ${WIRE_VERSION}`)
  let value: unknown
  try {
    value = JSON.parse(decodeUtf8(body.subarray(1), 'status'))
  } catch (err) {
    throw new StatusError(`status is not JSON: ${(err as Error).message}`, { cause: err })
  }
  return validate(value, 'peer status')
}

function validate(value: unknown, what: string): PeerStatus {
  const result = peerStatusSchema.safeParse(value)
  if (!result.success) {
    const first = result.error.issues[0]
    throw new StatusError(`${what} is invalid at ${first?.path.join('.') || '(root)'}: ${first?.message}`, {
      cause: result.error,
    })
  }
  return result.data
}
