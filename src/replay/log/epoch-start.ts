/**
 * The epoch-start entry a new primary appends, built without a machine: the group
 * layer makes it from the last committed entry's frame so that every member stores
 * the same bytes the promoted replica's Recorder would have written.
 */
import { EntryKind, type LogEntry } from '../types.ts'
import { encodeEpochStart } from './call-codec.ts'
import { type ChainPosition, chainNext, HashChain } from './hash-chain.ts'
import { decodeEntry } from './log-codec.ts'

/**
 * The EpochStart entry (and its frame) that a Recorder resumed right after
 * `previous` appends with `mark(EntryKind.EpochStart, { epoch })`. `previous` is
 * the encoded frame of the log's last entry, or where the chain stands, or
 * undefined for an empty log. Pure. Throws CorruptLogError if the frame does not
 * decode, and RangeError if `epoch` does not raise the log's epoch.
 */
export function epochStartFrame(
  epoch: number,
  previous: Uint8Array | ChainPosition | undefined,
): { entry: LogEntry; frame: Uint8Array } {
  const chain = new HashChain(previous instanceof Uint8Array ? after(previous) : previous)
  return chain.append(EntryKind.EpochStart, epoch, encodeEpochStart({ epoch }))
}

/** The chain position right after the entry encoded in `frame`. */
function after(frame: Uint8Array): ChainPosition {
  const entry = decodeEntry(frame)
  return { position: entry.seq + 1, lastHash: chainNext(entry.prevHash, frame), epoch: entry.epoch }
}
