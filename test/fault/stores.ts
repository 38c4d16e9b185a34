/**
 * The agents' stores after a run, read for the checker: each replica's hard state and stored log,
 * summarized as digests. A group entry's data is one encoded machine entry whose frame holds the hash
 * of the whole log before it, so equal digests at a seq mean equal logs up to there. Open a store only
 * after its agent has exited (level is single-process).
 */
import { createHash } from 'node:crypto'
import type { Entry, HardState } from '../../src/agent/group/types.ts'
import { AgentStore } from '../../src/agent/store/index.ts'
import type { EpochServed, StoreSummary } from './lab/index.ts'

export interface StoredGroup {
  hardState: HardState
  /** Seq of the stored checkpoint (entries up to it are not in `entries`). */
  checkpointSeq: number
  entries: Entry[]
}

export async function readGroup(storePath: string, workload: string): Promise<StoredGroup | undefined> {
  const store = await AgentStore.open({ path: storePath, sync: false })
  try {
    if (!(await store.listGroups()).includes(workload)) return undefined
    const loaded = await (await store.openGroup(workload)).load()
    return {
      hardState: loaded.hardState,
      checkpointSeq: loaded.checkpoint?.seq ?? 0,
      entries: [...loaded.entries],
    }
  } finally {
    await store.close()
  }
}

/** A short digest of one group entry: its epoch, kind and bytes. */
export function entryDigest(entry: Entry): string {
  return createHash('sha256')
    .update(`${entry.epoch}/${entry.kind}/`)
    .update(entry.data)
    .digest('hex')
    .slice(0, 32)
}

export function summarizeGroup(
  site: string,
  group: StoredGroup,
  served: readonly EpochServed[],
): StoreSummary {
  const last = group.entries.at(-1)?.seq ?? group.checkpointSeq
  const commitSeq = Math.min(group.hardState.commitSeq, last)
  const digestsAtSeq = new Map<number, string>()
  const entryDigests = new Map<string, string>()
  for (const entry of group.entries) {
    const digest = entryDigest(entry)
    entryDigests.set(`${entry.seq}@${entry.epoch}`, digest)
    if (entry.seq <= commitSeq) digestsAtSeq.set(entry.seq, digest)
  }
  return { site, epochsServedAsPrimary: served, digestsAtSeq, entryDigests, storedSeq: last, commitSeq }
}

/** The epochs whose start a store holds, in log order (seq where each began). */
export function epochStarts(group: StoredGroup): { epoch: number; seq: number }[] {
  return group.entries.filter((e) => e.kind === 'epoch-start').map((e) => ({ epoch: e.epoch, seq: e.seq }))
}
