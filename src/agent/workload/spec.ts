/**
 * What every member of a workload's group agrees on: the guest (by content hash), how it starts, and
 * who the members are. The agent that places a workload writes it; each member stores it beside the
 * group's log and restarts its replica from it after a reboot.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { workloadNameSchema } from '../../control/api-types.ts'

export const workloadSpecSchema = z.strictObject({
  name: workloadNameSchema,
  /** The owner's user id, or 'local-admin' for a workload started by a host's admin without a key. */
  owner: z.string().min(1).max(128),
  /** SHA-256 of the module, hex. */
  imageHash: z.string().regex(/^[0-9a-f]{64}$/),
  args: z.array(z.string()).max(1024),
  env: z.array(z.tuple([z.string(), z.string()])).max(1024),
  replicasWanted: z.number().int().min(1).max(15),
  /** Peer ids of the group's voting members; the first one campaigns first. */
  members: z.array(z.string().min(1).max(128)).min(1).max(15),
  /** Site of each member when it was placed. */
  sites: z.record(z.string(), z.string()),
  createdAt: z.number().int().nonnegative(),
  /** The peer that placed it. */
  placedBy: z.string().min(1).max(128),
  /** The owner-signed manifest (SignedManifest JSON): every host verifies it before holding data. */
  manifest: z.unknown().refine((m) => m !== undefined, 'the signed manifest is missing'),
})

export type WorkloadSpec = z.infer<typeof workloadSpecSchema>

export function imageHashOf(image: Uint8Array): string {
  return createHash('sha256').update(image).digest('hex')
}
