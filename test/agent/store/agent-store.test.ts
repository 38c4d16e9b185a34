import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { Level } from 'level'
import { AgentStore, STORE_FORMAT_VERSION } from '../../../src/agent/store/index.ts'
import { FORMAT_KEY } from '../../../src/agent/store/keys.ts'
import { StoreError, StoreVersionError } from '../../../src/errors/index.ts'
import { bytes, entries, hard, tempDir } from './helpers.ts'

async function writeRaw(path: string, key: Uint8Array, value: Uint8Array): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.put(key, value)
  await db.close()
}

test('a new store records its format version, and reopening reads it back', async (t) => {
  const path = tempDir(t)
  const store = await AgentStore.open({ path })
  t.is(store.format.version, STORE_FORMAT_VERSION)
  const createdAt = store.format.createdAt
  await store.close()
  const again = await AgentStore.open({ path })
  t.is(again.format.createdAt, createdAt)
  await again.close()
})

test('a store written by a newer format is refused with a message to upgrade', async (t) => {
  const path = tempDir(t)
  const record = { format: 'understudy-agent-store', version: STORE_FORMAT_VERSION + 1, createdAt: 'later' }
  await writeRaw(path, FORMAT_KEY, bytes(JSON.stringify(record)))
  const err = await t.throwsAsync(AgentStore.open({ path }), { instanceOf: StoreVersionError })
  t.is(err?.code, 'ERR_STORE_VERSION')
  t.is(err?.found, STORE_FORMAT_VERSION + 1)
  t.is(err?.supported, STORE_FORMAT_VERSION)
  t.regex(err?.message ?? '', /newer understudy.*upgrade understudy/)
  // The refusal closed the database: it can be opened again.
  await writeRaw(path, FORMAT_KEY, bytes(JSON.stringify({ ...record, version: 1 })))
  await (await AgentStore.open({ path })).close()
})

test('a database with data but no format record is refused', async (t) => {
  const path = tempDir(t)
  await writeRaw(path, bytes('something else'), bytes('x'))
  await t.throwsAsync(AgentStore.open({ path }), {
    instanceOf: StoreVersionError,
    message: /no format record/,
  })
})

test('a store another agent holds open is refused with a StoreError that says so', async (t) => {
  const path = tempDir(t)
  const first = await AgentStore.open({ path })
  t.teardown(() => first.close())
  const err = await t.throwsAsync(AgentStore.open({ path }), { instanceOf: StoreError })
  t.is(err?.op, 'open')
  t.regex(err?.message ?? '', /another process/)
})

test('using a closed store is a StoreError, and close is idempotent', async (t) => {
  const store = await AgentStore.open({ path: tempDir(t) })
  const g = await store.openGroup('w')
  await store.close()
  await store.close()
  await t.throwsAsync(g.persist({ entriesToPersist: entries(1, 1) }), {
    instanceOf: StoreError,
    message: /closed/,
  })
  await t.throwsAsync(store.manifests.list(), { instanceOf: StoreError, message: /closed/ })
})

test('close waits for group writes already under way', async (t) => {
  const path = tempDir(t)
  const store = await AgentStore.open({ path })
  const g = await store.openGroup('w')
  const writes = [1, 2, 3].map((seq) =>
    g.persist({ entriesToPersist: entries(seq, seq), hardState: hard(1, 'a', seq) }),
  )
  await store.close()
  await Promise.all(writes)
  const again = await AgentStore.open({ path })
  t.deepEqual((await (await again.openGroup('w')).load()).hardState, hard(1, 'a', 3))
  await again.close()
})

test('manifests keep their bytes and metadata across a reopen, and can be deleted', async (t) => {
  const path = tempDir(t)
  const store = await AgentStore.open({ path })
  await store.manifests.put('kv', bytes('signed manifest'), { owner: 'alice', replicas: 3 })
  await store.manifests.put('counter', new Uint8Array([0, 1, 2]))
  await store.close()
  const again = await AgentStore.open({ path })
  t.teardown(() => again.close())
  t.deepEqual(await again.manifests.get('kv'), {
    workload: 'kv',
    bytes: bytes('signed manifest'),
    meta: { owner: 'alice', replicas: 3 },
  })
  t.deepEqual(
    (await again.manifests.list()).map((m) => m.workload),
    ['counter', 'kv'],
  )
  await again.manifests.delete('kv')
  t.is(await again.manifests.get('kv'), undefined)
})

test('audit records keep their order across a reopen, even when the clock steps back', async (t) => {
  const path = tempDir(t)
  let clock = 1_000
  const now = () => clock
  const store = await AgentStore.open({ path, now })
  const a = await store.audit.append({ kind: 'policy', decision: 'deny', reason: 'idle only' })
  await store.audit.append({ kind: 'control', op: 'stop' })
  clock = 500 // the wall clock stepped back
  await store.audit.append({ kind: 'failover', tookMs: 40 })
  await store.close()
  const again = await AgentStore.open({ path, now })
  t.teardown(() => again.close())
  await again.audit.append({ kind: 'after-restart' })
  const all = await again.audit.read()
  t.deepEqual(
    all.map((e) => e.record.kind),
    ['policy', 'control', 'failover', 'after-restart'],
  )
  t.true(all.every((e, i) => i === 0 || e.time >= all[i - 1]!.time))
  t.deepEqual(
    (await again.audit.read({ after: a.id })).map((e) => e.record.kind),
    ['control', 'failover', 'after-restart'],
  )
  t.deepEqual(
    (await again.audit.read({ reverse: true, limit: 1 })).map((e) => e.record.kind),
    ['after-restart'],
  )
  await again.audit.pruneBefore(1_001)
  t.deepEqual(
    (await again.audit.read()).map((e) => e.record.kind),
    [],
  )
})

/** A small tmpfs to fill up; needs root and permission to mount, as on the project's machines. */
function mountTmpfs(dir: string, size: string): boolean {
  mkdirSync(dir, { recursive: true })
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]).status === 0
}

const canMount = (() => {
  if (process.getuid?.() !== 0) return false
  const probe = mkdtempSync(join(tmpdir(), 'us-mount-'))
  const ok = mountTmpfs(probe, '64k')
  if (ok) spawnSync('umount', [probe])
  rmSync(probe, { recursive: true, force: true })
  return ok
})()

;(canMount ? test.serial : test.skip)(
  'a full disk surfaces as a StoreError, and after freeing space the last whole Ready is there',
  async (t) => {
    const dir = join(tempDir(t), 'small-disk')
    t.true(mountTmpfs(dir, '2m'))
    t.teardown(() => {
      spawnSync('umount', [dir])
    })
    const path = join(dir, 'db')
    const store = await AgentStore.open({ path })
    const g = await store.openGroup('w')
    const data = new Uint8Array(100_000).fill(7)
    let acked = 0
    let failure: unknown
    for (let seq = 1; seq < 1000; seq++) {
      try {
        await g.persist({
          entriesToPersist: [{ seq, epoch: 1, kind: 'normal', data }],
          hardState: hard(1, 'a', seq),
        })
        acked = seq
      } catch (err) {
        failure = err
        break
      }
    }
    t.true(failure instanceof StoreError)
    const err = failure as StoreError
    t.regex(err.message, /disk is full/)
    t.regex((err.cause as Error).message, /No space left on device/)
    await store.close()

    t.is(spawnSync('mount', ['-o', 'remount,size=16m', dir]).status, 0)
    const again = await AgentStore.open({ path })
    const loaded = await (await again.openGroup('w')).load()
    await again.close()
    t.is(loaded.entries.length, acked)
    t.deepEqual(loaded.hardState, hard(1, 'a', acked))
  },
)
