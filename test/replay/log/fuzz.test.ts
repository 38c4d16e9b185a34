/**
 * Seeded mutation fuzzing of every decoder. The property: a decoder either gives
 * back exactly what was written, or throws CorruptLogError; never anything else,
 * never a different entry, and never a hang (every loop here is bounded).
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { CorruptLogError } from '../../../src/errors/index.ts'
import {
  type DecodedPayload,
  decodePayload,
  encodeCall,
  encodeCheckpoint,
  encodeEpochStart,
  encodeExit,
  encodeInput,
  encodeOutput,
} from '../../../src/replay/log/call-codec.ts'
import { HashChain } from '../../../src/replay/log/hash-chain.ts'
import { decodeEntry, EntryDecoder, encodeEntry } from '../../../src/replay/log/log-codec.ts'
import { LogFileWriter, parseLogFile } from '../../../src/replay/log/log-file.ts'
import { EntryKind, type LogEntry } from '../../../src/replay/types.ts'
import { prng, sampleEntries } from './sample.ts'

type Rng = ReturnType<typeof prng>

const ROUNDS = 3000

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0
}

function sameEntry(a: LogEntry, b: LogEntry): boolean {
  return (
    a.seq === b.seq &&
    a.epoch === b.epoch &&
    a.kind === b.kind &&
    same(a.payload, b.payload) &&
    same(a.prevHash, b.prevHash)
  )
}

/** Offsets worth hitting: near the start of each frame (its header) and anywhere at all. */
function pickOffset(rng: Rng, bytes: Uint8Array, hotSpots: readonly number[]): number {
  if (hotSpots.length > 0 && rng.next() < 0.6) {
    return Math.min(bytes.length - 1, hotSpots[rng.int(hotSpots.length)]! + rng.int(48))
  }
  return rng.int(bytes.length)
}

/** One to three random edits: bit flips, byte sets, deletions, insertions, duplications, truncation. */
function mutate(rng: Rng, input: Uint8Array, hotSpots: readonly number[]): Uint8Array {
  let bytes = Buffer.from(input)
  const edits = 1 + rng.int(3)
  for (let i = 0; i < edits && bytes.length > 0; i++) {
    const at = pickOffset(rng, bytes, hotSpots)
    const len = 1 + rng.int(rng.next() < 0.5 ? 4 : 80)
    switch (rng.int(7)) {
      case 0:
        bytes[at]! ^= 1 << rng.int(8)
        break
      case 1:
        bytes[at] = rng.int(256)
        break
      case 2:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + len)])
        break
      case 3: {
        const junk = Buffer.alloc(len)
        for (let j = 0; j < len; j++) junk[j] = rng.int(256)
        bytes = Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at)])
        break
      }
      case 4:
        bytes = Buffer.concat([
          bytes.subarray(0, at + len),
          bytes.subarray(at, at + len),
          bytes.subarray(at + len),
        ])
        break
      case 5:
        bytes = bytes.subarray(0, at)
        break
      case 6: {
        // move a block elsewhere (reordering at some granularity)
        const block = Buffer.from(bytes.subarray(at, at + len))
        const rest = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + len)])
        const to = rng.int(rest.length + 1)
        bytes = Buffer.concat([rest.subarray(0, to), block, rest.subarray(to)])
        break
      }
    }
  }
  return bytes
}

/** Runs `fn`, failing the test on any exception other than CorruptLogError. Returns whether it threw. */
function corruptOrOk(t: ExecutionContext, round: number, fn: () => void): boolean {
  try {
    fn()
    return false
  } catch (err) {
    if (!(err instanceof CorruptLogError)) {
      t.fail(`round ${round}: ${(err as Error)?.stack ?? String(err)}`)
    }
    return true
  }
}

function frameStarts(entries: readonly LogEntry[], base: number, gap: number): number[] {
  const starts: number[] = []
  let pos = base
  for (const e of entries) {
    starts.push(pos)
    pos += encodeEntry(e).length + gap
  }
  return starts
}

test('a mutated log file reads back identical or is refused as corrupt', async (t) => {
  const entries = sampleEntries()
  const dir = mkdtempSync(join(tmpdir(), 'uslog-fuzz-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'f.uslog')
  const writer = new LogFileWriter(path, { meta: { createdAt: '2026-01-01T00:00:00.000Z', moduleHash: 'x' } })
  for (const e of entries) writer.append(e)
  await writer.close()
  const file = readFileSync(path)
  const headerEnd = 11 + file.readUInt32BE(7) + 4
  const hot = [0, ...frameStarts(entries, headerEnd, 4), file.length - 42]
  const rng = prng(0x5eed)
  let refused = 0
  let prefixes = 0
  for (let round = 0; round < ROUNDS; round++) {
    const bytes = mutate(rng, file, hot)
    const unchanged = same(bytes, file)
    corruptOrOk(t, round, () => {
      const got = parseLogFile(bytes)
      if (
        !got.complete ||
        got.entries.length !== entries.length ||
        !got.entries.every((e, i) => sameEntry(e, entries[i]!))
      ) {
        t.fail(`round ${round}: a mutated file was accepted with different entries`)
      }
      if (!unchanged) t.fail(`round ${round}: a changed file was accepted as is`)
    }) && refused++
    corruptOrOk(t, round, () => {
      const got = parseLogFile(bytes, { allowTruncatedTail: true })
      if (got.entries.length > entries.length || !got.entries.every((e, i) => sameEntry(e, entries[i]!))) {
        t.fail(`round ${round}: recovery returned entries that are not a prefix of the log`)
      }
      if (!got.complete) prefixes++
    })
  }
  t.true(refused > ROUNDS * 0.95, `${refused} of ${ROUNDS} mutations refused`)
  t.true(prefixes > 0, 'some mutations were truncations that recovery accepted')
})

test('a mutated entry stream decodes to canonical frames and the chain stops at the first change', (t) => {
  const entries = sampleEntries()
  const stream = Buffer.concat(entries.map((e) => encodeEntry(e)))
  const hot = frameStarts(entries, 0, 0)
  const rng = prng(42)
  for (let round = 0; round < ROUNDS; round++) {
    const bytes = mutate(rng, stream, hot)
    const decoder = new EntryDecoder({ maxPayload: 64 * 1024 })
    const chain = new HashChain()
    const verified: LogEntry[] = []
    corruptOrOk(t, round, () => {
      for (let pos = 0; pos < bytes.length; ) {
        const size = 1 + rng.int(rng.next() < 0.3 ? 8 : 2000)
        for (const { entry, frame } of decoder.pushFrames(bytes.subarray(pos, pos + size))) {
          if (!same(encodeEntry(entry), frame))
            t.fail(`round ${round}: entry ${entry.seq} decoded from a non-canonical frame`)
          chain.verify(entry, frame)
          verified.push(entry)
        }
        pos += size
      }
      decoder.end()
    })
    // every verified entry but the last is proven by its successor's prevHash
    for (let i = 0; i < verified.length - 1; i++) {
      if (!sameEntry(verified[i]!, entries[i]!))
        t.fail(`round ${round}: verified entry ${i} differs from the original`)
    }
    const last = verified.at(-1)
    if (
      last !== undefined &&
      (last.seq !== verified.length - 1 || !same(last.prevHash, entries[last.seq]!.prevHash))
    ) {
      t.fail(`round ${round}: the last verified entry does not continue the chain`)
    }
  }
  t.pass()
})

test('a mutated single frame decodes only to an entry that encodes back to the same bytes', (t) => {
  const entries = sampleEntries()
  const rng = prng(7)
  for (let round = 0; round < ROUNDS; round++) {
    const source = entries[rng.int(entries.length)]!
    const bytes = round % 10 === 0 ? randomBytes(rng, rng.int(120)) : mutate(rng, encodeEntry(source), [0])
    corruptOrOk(t, round, () => {
      const e = decodeEntry(bytes, { maxPayload: 64 * 1024 })
      if (!same(encodeEntry(e), bytes)) t.fail(`round ${round}: decoded a frame that is not canonical`)
    })
  }
  t.pass()
})

test('a mutated payload decodes only to a value that encodes back to the same bytes', (t) => {
  const entries = sampleEntries()
  const rng = prng(99)
  for (let round = 0; round < ROUNDS; round++) {
    const source = entries[rng.int(entries.length)]!
    const payload = round % 10 === 0 ? randomBytes(rng, rng.int(60)) : mutate(rng, source.payload, [0])
    const kind = round % 7 === 0 ? ((1 + rng.int(6)) as EntryKind) : source.kind
    corruptOrOk(t, round, () => {
      const p = decodePayload({ ...source, kind, payload })
      if (!same(reencode(p), payload))
        t.fail(`round ${round}: decoded a ${kind} payload that is not canonical`)
    })
  }
  t.pass()
})

function randomBytes(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = rng.int(256)
  return b
}

function reencode(p: DecodedPayload): Uint8Array {
  switch (p.kind) {
    case EntryKind.Call:
      return encodeCall(p.fn, p.args, p.result)
    case EntryKind.Input:
      return encodeInput(p.name, p.bytes)
    case EntryKind.Output:
      return encodeOutput(p)
    case EntryKind.Exit:
      return encodeExit(p)
    case EntryKind.Checkpoint:
      return encodeCheckpoint(p)
    case EntryKind.EpochStart:
      return encodeEpochStart(p)
  }
}
