/**
 * What durability costs in the agent's store: persisting a Ready (entries + hard state, one level
 * batch) with fsync (`sync: true`, what the group protocol needs before it acks or votes) against the
 * same batch without it (survives a process crash, not a machine crash), measured in the same run.
 * Also a 64-entry Ready, to show how batching amortizes the fsync, and a load of the stored log.
 *
 *   npx node bench/store.ts
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Entry } from '../src/agent/group/types.ts'
import { AgentStore } from '../src/agent/store/index.ts'

const DATA_BYTES = 256

interface Figures {
  readies: number
  entriesPerReady: number
  meanUs: number
  p50Us: number
  p99Us: number
  readiesPerSecond: number
  entriesPerSecond: number
}

async function measure(sync: boolean, entriesPerReady: number, readies: number): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'us-bench-store-'))
  const store = await AgentStore.open({ path: join(dir, 'db'), sync })
  try {
    const group = await store.openGroup('bench')
    const data = new Uint8Array(DATA_BYTES).fill(7)
    let seq = 0
    const ready = () => {
      const entries: Entry[] = []
      for (let i = 0; i < entriesPerReady; i++) entries.push({ seq: ++seq, epoch: 1, kind: 'normal', data })
      return { entriesToPersist: entries, hardState: { epoch: 1, votedFor: 'a', commitSeq: seq } }
    }
    for (let i = 0; i < 20; i++) await group.persist(ready()) // warm up
    const times: number[] = []
    const t0 = performance.now()
    for (let i = 0; i < readies; i++) {
      const rd = ready()
      const start = performance.now()
      await group.persist(rd)
      times.push(performance.now() - start)
    }
    const total = performance.now() - t0
    times.sort((a, b) => a - b)
    const us = (ms: number) => Math.round(ms * 1000)
    return {
      readies,
      entriesPerReady,
      meanUs: us(total / readies),
      p50Us: us(times[Math.floor(readies * 0.5)]!),
      p99Us: us(times[Math.floor(readies * 0.99)]!),
      readiesPerSecond: Math.round((readies / total) * 1000),
      entriesPerSecond: Math.round(((readies * entriesPerReady) / total) * 1000),
    }
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function measureLoad(entries: number): Promise<{ entries: number; loadMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'us-bench-store-'))
  const path = join(dir, 'db')
  const store = await AgentStore.open({ path, sync: false })
  const group = await store.openGroup('bench')
  const data = new Uint8Array(DATA_BYTES).fill(7)
  for (let from = 1; from <= entries; from += 1000) {
    const batch: Entry[] = []
    for (let seq = from; seq < from + 1000; seq++) batch.push({ seq, epoch: 1, kind: 'normal', data })
    await group.persist({ entriesToPersist: batch })
  }
  await store.close()
  const again = await AgentStore.open({ path })
  const t0 = performance.now()
  const loaded = await (await again.openGroup('bench')).load()
  const loadMs = Math.round(performance.now() - t0)
  await again.close()
  rmSync(dir, { recursive: true, force: true })
  if (loaded.entries.length !== entries) throw new Error(`loaded ${loaded.entries.length} of ${entries}`)
  return { entries, loadMs }
}

const oneSync = await measure(true, 1, 300)
const oneNoSync = await measure(false, 1, 3000)
const batchSync = await measure(true, 64, 100)
const batchNoSync = await measure(false, 64, 500)
const load = await measureLoad(100_000)

console.log(
  JSON.stringify(
    {
      bench: 'store',
      entryDataBytes: DATA_BYTES,
      oneEntry: {
        sync: oneSync,
        noSync: oneNoSync,
        syncCostRatio: +(oneSync.meanUs / oneNoSync.meanUs).toFixed(1),
      },
      sixtyFourEntries: {
        sync: batchSync,
        noSync: batchNoSync,
        syncCostRatio: +(batchSync.meanUs / batchNoSync.meanUs).toFixed(1),
      },
      load,
    },
    null,
    2,
  ),
)
