import { spawn } from 'node:child_process'
import { join } from 'node:path'
import test from 'ava'
import { Level } from 'level'
import { ReplicaGroupMember } from '../../../src/agent/group/group.ts'
import type { GroupConfig, Ready } from '../../../src/agent/group/types.ts'
import {
  AgentStore,
  type GroupStorage,
  type LevelDb,
  type ReadyStorage,
} from '../../../src/agent/store/index.ts'
import { GroupKeys } from '../../../src/agent/store/keys.ts'
import { GroupStateError, StoreError } from '../../../src/errors/index.ts'
import { bytes, entries, entry, hard, tempDir } from './helpers.ts'

const open = (path: string, db?: LevelDb) => AgentStore.open({ path, db })

async function withGroup<T>(
  path: string,
  fn: (g: GroupStorage, store: AgentStore) => Promise<T>,
  workload = 'kv',
): Promise<T> {
  const store = await open(path)
  try {
    return await fn(await store.openGroup(workload), store)
  } finally {
    await store.close()
  }
}

test('a persisted Ready loads back after reopening: hard state, checkpoint, entries, applied seq', async (t) => {
  const path = tempDir(t)
  await withGroup(path, async (g) => {
    await g.persist({ entriesToPersist: entries(1, 5), hardState: hard(1, 'a', 3) })
    await g.persist({
      checkpoint: { checkpoint: { seq: 2, epoch: 1, ref: bytes('cp-2') }, restore: false },
      entriesToPersist: [{ seq: 6, epoch: 1, kind: 'epoch-start', data: new Uint8Array(0) }],
    })
    await g.markApplied(3)
  })
  const loaded = await withGroup(path, (g) => g.load())
  t.deepEqual(loaded.hardState, hard(1, 'a', 3))
  t.deepEqual(loaded.checkpoint, { seq: 2, epoch: 1, ref: bytes('cp-2') })
  t.deepEqual(
    loaded.entries.map((e) => [e.seq, e.kind, new TextDecoder().decode(e.data)]),
    [
      [3, 'normal', 'e3'],
      [4, 'normal', 'e4'],
      [5, 'normal', 'e5'],
      [6, 'epoch-start', ''],
    ],
  )
  t.is(loaded.appliedSeq, 3)
})

test('a fresh group loads as empty with no vote', async (t) => {
  const loaded = await withGroup(tempDir(t), (g) => g.load())
  t.deepEqual(loaded, { hardState: hard(0, undefined, 0), checkpoint: undefined, entries: [], appliedSeq: 0 })
})

/**
 * A database whose `failAt`-th write call of any kind fails, as a full disk or an I/O error would.
 * Every kind of write counts, so a store that split a Ready over several writes would be caught.
 */
function faultyLevel(path: string): { db: LevelDb; faults: { writes: number; failAt: number } } {
  const db: LevelDb = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  const faults = { writes: 0, failAt: 0 }
  for (const method of ['_batch', '_put', '_del', '_clear']) {
    const original = Reflect.get(db, method) as (...args: unknown[]) => Promise<unknown>
    Reflect.set(db, method, async (...args: unknown[]) => {
      faults.writes++
      if (faults.writes === faults.failAt) {
        throw Object.assign(new Error('IO error: injected write failure'), { code: 'LEVEL_IO_ERROR' })
      }
      return original.apply(db, args)
    })
  }
  return { db, faults }
}

test("a Ready's parts are applied all together or not at all when a write fails", async (t) => {
  const before: ReadyStorage = { entriesToPersist: entries(1, 10), hardState: hard(1, 'a', 5) }
  // Every part at once: truncate the tail, store a checkpoint, append from a new epoch, move the vote.
  const ready: ReadyStorage = {
    truncateFrom: 8,
    checkpoint: { checkpoint: { seq: 6, epoch: 1, ref: bytes('cp-6') }, restore: false },
    entriesToPersist: entries(8, 12, 2),
    hardState: hard(2, 'b', 7),
  }
  const expected = async (parts: ReadyStorage[]) => {
    const path = tempDir(t)
    return withGroup(path, async (g) => {
      for (const part of parts) await g.persist(part)
      return g.load()
    })
  }
  const oldState = await expected([before])
  const newState = await expected([before, ready])

  for (const failAt of [1, 2, 3, 4]) {
    const path = tempDir(t)
    const { db, faults } = faultyLevel(path)
    const store = await open(path, db)
    const g = await store.openGroup('kv')
    await g.persist(before)
    faults.writes = 0
    faults.failAt = failAt
    const outcome = await g.persist(ready).then(
      () => 'ok',
      (err: unknown) => err,
    )
    await store.close()
    const after = await withGroup(path, (g2) => g2.load())
    if (failAt === 1) {
      t.true(outcome instanceof StoreError, 'the first write failed')
      t.deepEqual(after, oldState, 'nothing of the failed Ready is visible')
    } else {
      t.is(outcome, 'ok')
      t.deepEqual(after, newState, `the Ready was written whole (fault at write ${failAt} never came)`)
    }
  }
})

test('a failed write surfaces as a StoreError with the cause, and the group must be reopened', async (t) => {
  const path = tempDir(t)
  const { db, faults } = faultyLevel(path)
  const store = await open(path, db)
  t.teardown(() => store.close())
  const g = await store.openGroup('kv')
  await g.persist({ entriesToPersist: entries(1, 2) })
  faults.writes = 0
  faults.failAt = 1
  const err = await t.throwsAsync(g.persist({ entriesToPersist: entries(3, 3) }), { instanceOf: StoreError })
  t.is(err?.code, 'ERR_STORE')
  t.is(err?.op, 'persist a Ready')
  t.regex(err?.message ?? '', /injected write failure/)
  t.is((err?.cause as Error | undefined)?.message, 'IO error: injected write failure')
  // The old instance refuses further use rather than drift from the disk.
  await t.throwsAsync(g.persist({ entriesToPersist: entries(3, 3) }), {
    instanceOf: StoreError,
    message: /reopen/,
  })
  const fresh = await store.openGroup('kv')
  t.not(fresh, g)
  await fresh.persist({ entriesToPersist: entries(3, 3) })
  t.deepEqual(
    (await fresh.load()).entries.map((e) => e.seq),
    [1, 2, 3],
  )
})

test('a gap in the entries is refused before anything is written', async (t) => {
  await withGroup(tempDir(t), async (g) => {
    await g.persist({ entriesToPersist: entries(1, 3) })
    await t.throwsAsync(g.persist({ entriesToPersist: [entry(5)], hardState: hard(9, 'x', 1) }), {
      instanceOf: GroupStateError,
      message: /entry 5 .* where 4 was expected/,
    })
    const loaded = await g.load()
    t.deepEqual(loaded.hardState, hard(0, undefined, 0))
    await g.persist({ entriesToPersist: [entry(4)] })
    t.is(g.lastSeq, 4)
  })
})

test('truncating cuts the uncommitted tail and new entries take its place', async (t) => {
  const path = tempDir(t)
  await withGroup(path, async (g) => {
    await g.persist({ entriesToPersist: entries(1, 8, 1), hardState: hard(1, 'a', 4) })
    await g.persist({ truncateFrom: 5, entriesToPersist: entries(5, 6, 2), hardState: hard(2, 'b', 4) })
  })
  const loaded = await withGroup(path, (g) => g.load())
  t.deepEqual(
    loaded.entries.map((e) => [e.seq, e.epoch]),
    [
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 1],
      [5, 2],
      [6, 2],
    ],
  )
  t.deepEqual(await withGroup(path, async (g) => (await g.readRange(4, 100)).map((e) => e.seq)), [4, 5, 6])
})

test('installing a checkpoint from the primary drops the whole log after it', async (t) => {
  const path = tempDir(t)
  await withGroup(path, async (g) => {
    await g.persist({ entriesToPersist: entries(1, 6, 1) })
    await g.persist({
      truncateFrom: 1,
      checkpoint: { checkpoint: { seq: 20, epoch: 4, ref: bytes('remote') }, restore: true },
      entriesToPersist: entries(21, 22, 4),
      hardState: hard(4, undefined, 20),
    })
  })
  const loaded = await withGroup(path, (g) => g.load())
  t.deepEqual(loaded.checkpoint, { seq: 20, epoch: 4, ref: bytes('remote') })
  t.deepEqual(
    loaded.entries.map((e) => e.seq),
    [21, 22],
  )
  t.is(loaded.appliedSeq, 20)
})

async function countKeys(path: string, lower: Uint8Array, upper: Uint8Array): Promise<number> {
  const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  try {
    return (await db.keys({ gte: lower, lt: upper }).all()).length
  } finally {
    await db.close()
  }
}

test('compact reclaims the entries and checkpoint data the checkpoint covers, and nothing after it', async (t) => {
  const path = tempDir(t)
  const keys = new GroupKeys('kv')
  await withGroup(path, async (g) => {
    await g.persist({ entriesToPersist: entries(1, 10) })
    await g.writeCheckpointData(4, bytes('state@4'))
    await g.persist({ checkpoint: { checkpoint: { seq: 4, epoch: 1, ref: bytes('4') }, restore: false } })
    await g.writeCheckpointData(7, bytes('state@7'))
    await g.persist({ checkpoint: { checkpoint: { seq: 7, epoch: 1, ref: bytes('7') }, restore: false } })
  })
  t.is(
    await countKeys(path, keys.entry(0), keys.entry(100)),
    10,
    'persist leaves covered entries for compact',
  )
  await withGroup(path, async (g) => {
    await t.throwsAsync(g.compact(8), { instanceOf: GroupStateError, message: /checkpoint is at 7/ })
    await g.compact()
    t.deepEqual(
      (await g.load()).entries.map((e) => e.seq),
      [8, 9, 10],
    )
    t.is(await g.readCheckpointData(4), undefined)
    t.deepEqual(await g.readCheckpointData(7), bytes('state@7'))
  })
  t.is(await countKeys(path, keys.entry(0), keys.entry(100)), 3)
})

test('checkpoint data larger than a chunk round trips, and rewriting it replaces it', async (t) => {
  await withGroup(tempDir(t), async (g) => {
    const big = new Uint8Array(2.5 * 2 ** 20)
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff
    await g.writeCheckpointData(9, big)
    t.deepEqual(await g.readCheckpointData(9), big)
    await g.writeCheckpointData(9, bytes('small'))
    t.deepEqual(await g.readCheckpointData(9), bytes('small'))
    await g.writeCheckpointData(10, new Uint8Array(0))
    t.deepEqual(await g.readCheckpointData(10), new Uint8Array(0), 'empty data is stored, not missing')
  })
})

test('entries iterate in seq order across the 255, 65535 and 2^32 key byte boundaries', async (t) => {
  const path = tempDir(t)
  const store = await open(path)
  t.teardown(() => store.close())
  const check = async (workload: string, startAfter: number, count: number) => {
    const g = await store.openGroup(workload)
    if (startAfter > 0) {
      await g.persist({
        checkpoint: { checkpoint: { seq: startAfter, epoch: 1, ref: bytes('') }, restore: true },
      })
    }
    for (let from = startAfter + 1; from <= startAfter + count; from += 500) {
      await g.persist({ entriesToPersist: entries(from, Math.min(from + 499, startAfter + count)) })
    }
    const seqs = (await g.load()).entries.map((e) => e.seq)
    t.is(seqs.length, count)
    t.true(
      seqs.every((s, i) => s === startAfter + 1 + i),
      `${workload} loads in seq order`,
    )
    const range = await g.readRange(startAfter + 2, startAfter + count - 1)
    t.deepEqual(
      range.map((e) => e.seq),
      seqs.slice(1, -1),
    )
  }
  await check('small', 0, 600)
  await check('mid', 65_500, 100)
  await check('huge', 2 ** 32 - 50, 100)
  t.deepEqual(await store.listGroups(), ['huge', 'mid', 'small'])
})

test('groups with names that prefix each other stay apart, and deleting one leaves the others', async (t) => {
  const store = await open(tempDir(t))
  t.teardown(() => store.close())
  const a = await store.openGroup('a')
  const ab = await store.openGroup('a-b')
  await a.persist({ entriesToPersist: entries(1, 3), hardState: hard(1, 'x', 1) })
  await ab.persist({ entriesToPersist: entries(1, 5), hardState: hard(2, 'y', 2) })
  t.is((await a.load()).entries.length, 3)
  t.is((await ab.load()).entries.length, 5)
  t.deepEqual(await store.listGroups(), ['a', 'a-b'])
  await store.deleteGroup('a')
  t.deepEqual(await store.listGroups(), ['a-b'])
  t.deepEqual((await ab.load()).hardState, hard(2, 'y', 2))
  t.deepEqual((await (await store.openGroup('a')).load()).entries, [])
})

test('every acknowledged write survives the writer being killed with SIGKILL', async (t) => {
  const path = join(tempDir(t), 'db')
  const child = spawn(process.execPath, [join(import.meta.dirname, 'kill-writer.ts'), path, '300'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk
  })
  const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, sig) => resolve(sig)),
  )
  t.is(signal, 'SIGKILL')
  const acked = [...out.matchAll(/acked (\d+)/g)].map((m) => Number(m[1]))
  t.true(acked.length >= 300)
  const lastAcked = Math.max(...acked)

  const loaded = await withGroup(path, (g) => g.load(), 'counter')
  // Everything acknowledged is there; a write in flight at the kill may or may not be.
  t.true(loaded.entries.length >= lastAcked, `${loaded.entries.length} stored, ${lastAcked} acknowledged`)
  t.true(loaded.hardState.commitSeq >= lastAcked)
  t.true(
    loaded.entries.every(
      (e, i) => e.seq === i + 1 && e.epoch === 3 && e.data.every((b) => b === (e.seq & 0xff)),
    ),
  )
})

test('a member rebuilt from the store has the log, vote and commit it had persisted', async (t) => {
  const config: GroupConfig = {
    members: ['solo'],
    heartbeatTicks: 1,
    electionTicks: 3,
    maxBatchEntries: 64,
    maxInflightBytes: 1 << 20,
  }
  const path = tempDir(t)
  const drive = async (g: GroupStorage, member: ReplicaGroupMember) => {
    while (member.hasReady()) {
      const rd: Ready = member.ready()
      await g.persist(rd)
      member.advance(rd)
    }
  }
  const before = await withGroup(path, async (g) => {
    const member = new ReplicaGroupMember({ id: 'solo', config, random: () => 0 })
    for (let i = 0; i < 10 && member.status().role !== 'primary'; i++) {
      member.tick()
      await drive(g, member)
    }
    t.is(member.status().role, 'primary')
    for (let i = 0; i < 5; i++) member.propose(bytes(`put k${i}`))
    await drive(g, member)
    return member.status()
  })
  const after = await withGroup(path, async (g) => {
    const stored = await g.load()
    return new ReplicaGroupMember({ id: 'solo', config, random: () => 0, storage: stored }).status()
  })
  t.is(after.epoch, before.epoch)
  t.is(after.votedFor, 'solo')
  t.is(after.lastSeq, before.lastSeq)
  t.is(after.commitSeq, before.commitSeq)
})

test('config entries and a checkpoint carrying the configuration round-trip, and a member rebuilt from them has it', async (t) => {
  const config: GroupConfig = {
    members: ['solo'],
    heartbeatTicks: 1,
    electionTicks: 3,
    maxBatchEntries: 64,
    maxInflightBytes: 1 << 20,
  }
  const path = tempDir(t)
  const drive = async (g: GroupStorage, member: ReplicaGroupMember) => {
    while (member.hasReady()) {
      const rd: Ready = member.ready()
      await g.persist(rd)
      member.advance(rd)
    }
  }
  const addedAt = await withGroup(path, async (g) => {
    const member = new ReplicaGroupMember({ id: 'solo', config, random: () => 0 })
    member.campaign()
    await drive(g, member)
    const seq = member.addMember('joiner')
    await drive(g, member)
    return seq
  })
  const stored = await withGroup(path, (g) => g.load())
  t.like(stored.entries.at(-1), { seq: addedAt, kind: 'config' })
  const rebuilt = new ReplicaGroupMember({ id: 'solo', config, random: () => 0, storage: stored })
  t.like(rebuilt.status(), { members: ['solo'], learners: ['joiner'], configSeq: addedAt })

  const checkpoint = { seq: addedAt, epoch: 1, ref: bytes('cp'), members: ['solo'], learners: ['joiner'] }
  await withGroup(path, (g) => g.persist({ checkpoint: { checkpoint, restore: false } }))
  const compacted = await withGroup(path, (g) => g.load())
  t.deepEqual(compacted.checkpoint, checkpoint)
  t.deepEqual(compacted.entries, [])
  const fromCheckpoint = new ReplicaGroupMember({ id: 'solo', config, random: () => 0, storage: compacted })
  t.like(fromCheckpoint.status(), { members: ['solo'], learners: ['joiner'], firstSeq: addedAt + 1 })
})

test('a checkpoint written before membership changes still loads, without a configuration', async (t) => {
  const path = tempDir(t)
  await withGroup(path, (g) => g.persist({ entriesToPersist: entries(1, 3) }))
  const keys = new GroupKeys('kv')
  const writeRaw = async (value: Uint8Array) => {
    const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
    await db.put(keys.checkpoint, value)
    await db.close()
  }
  // The old layout: seq u64 | epoch u64 | ref.
  await writeRaw(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0x72, 0x65, 0x66))
  const loaded = await withGroup(path, (g) => g.load())
  t.deepEqual(loaded.checkpoint, { seq: 2, epoch: 1, ref: bytes('ref') })
  t.deepEqual(
    loaded.entries.map((e) => e.seq),
    [3],
  )
  // A record that is neither layout is reported, never guessed at.
  await writeRaw(Uint8Array.of(2, ...new Array(20).fill(0)))
  await t.throwsAsync(
    withGroup(path, (g) => g.load()),
    { instanceOf: StoreError, message: /checkpoint metadata does not decode/ },
  )
})
