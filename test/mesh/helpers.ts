/** Shared pieces of the mesh tests: real nodes on loopback, an in-memory log, a seeded PRNG. */
import type { PeerId } from '@libp2p/interface'
import {
  createMeshNode,
  type MeshNode,
  type MeshNodeOptions,
  type StreamEntry,
} from '../../src/mesh/index.ts'

/** Starts `count` nodes on 127.0.0.1 with short test timeouts. */
export async function startNodes(count: number, options: MeshNodeOptions = {}): Promise<MeshNode[]> {
  return Promise.all(Array.from({ length: count }, () => createMeshNode(options)))
}

export async function stopAll(nodes: MeshNode[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.stop()))
}

export async function connect(from: MeshNode, to: MeshNode): Promise<void> {
  const addr = to.getMultiaddrs()[0]
  if (addr === undefined) throw new Error('node has no address')
  await from.dial(addr)
}

/** Drops every connection between two nodes abruptly (TCP reset, no goodbye). */
export function killConnections(node: MeshNode, peer: PeerId): number {
  const connections = node.getConnections(peer)
  for (const connection of connections) connection.abort(new Error('killed by the test'))
  return connections.length
}

/**
 * An in-memory log that plays the owner's storage: `readFrom` yields what is stored
 * now and ends; `append` stores and notifies the senders attached with `attach`.
 */
export class MemoryLog {
  readonly entries: StreamEntry[] = []
  private readonly listeners = new Set<(headSeq: number) => void>()
  /** How many entries all readFrom calls have yielded (to observe backpressure). */
  pulled = 0

  append(bytes: Uint8Array, epoch = 1): StreamEntry {
    const entry = { seq: this.entries.length, epoch, bytes }
    this.entries.push(entry)
    for (const listener of this.listeners) listener(entry.seq)
    return entry
  }

  fill(count: number, size: number, epoch = 1): void {
    for (let i = 0; i < count; i++) this.append(entryBytes(this.entries.length, size), epoch)
  }

  attach(listener: (headSeq: number) => void): void {
    this.listeners.add(listener)
  }

  readFrom = (seq: number): AsyncIterable<StreamEntry> => {
    const entries = this.entries
    const self = this
    return (async function* () {
      for (let i = seq; i < entries.length; i++) {
        self.pulled++
        yield entries[i] as StreamEntry
      }
    })()
  }
}

/** Deterministic bytes for entry `seq` (its seq in the first 4 bytes, so content checks catch reordering). */
export function entryBytes(seq: number, size: number): Uint8Array {
  const bytes = new Uint8Array(Math.max(size, 4))
  new DataView(bytes.buffer).setUint32(0, seq)
  for (let i = 4; i < bytes.length; i++) bytes[i] = (seq * 31 + i) & 0xff
  return bytes.subarray(0, size >= 4 ? size : bytes.length)
}

export function seqOf(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0)
}

/** A receiver-side store that records what it got, in order. */
export class RecordingStore {
  readonly seqs: number[] = []
  readonly calls: StreamEntry[][] = []
  readonly contentErrors: string[] = []

  store = async (entries: StreamEntry[]): Promise<void> => {
    this.calls.push(entries)
    for (const entry of entries) {
      this.seqs.push(entry.seq)
      if (entry.bytes.byteLength >= 4 && seqOf(entry.bytes) !== entry.seq) {
        this.contentErrors.push(`entry ${entry.seq} carries the bytes of entry ${seqOf(entry.bytes)}`)
      }
    }
  }

  /** Seqs that are missing or repeated, compared with 0..count-1. */
  gapsAndDuplicates(count: number): { missing: number[]; duplicates: number[] } {
    const seen = new Map<number, number>()
    for (const seq of this.seqs) seen.set(seq, (seen.get(seq) ?? 0) + 1)
    const missing: number[] = []
    for (let seq = 0; seq < count; seq++) if (!seen.has(seq)) missing.push(seq)
    const duplicates = [...seen].filter(([, n]) => n > 1).map(([seq]) => seq)
    return { missing, duplicates }
  }
}

/** Mulberry32: a small seeded PRNG so a failing fuzz run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256)
  return bytes
}

/** Polls `check` until it holds or `timeout` passes. */
export async function waitFor(check: () => boolean, timeout = 5000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > timeout) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
