/**
 * Child process for the crash test: persists Readies as fast as it can, printing "acked <seq>" after
 * each persist resolves, and SIGKILLs itself while more writes are in flight.
 *   node kill-writer.ts <store path> <kill after this many acks>
 */
import { writeSync } from 'node:fs'
import { AgentStore } from '../../../src/agent/store/index.ts'

const [path, killAfter] = process.argv.slice(2) as [string, string]
const store = await AgentStore.open({ path })
const group = await store.openGroup('counter')
const data = new Uint8Array(512)
let acked = 0
const pending: Promise<void>[] = []
for (let seq = 1; ; seq++) {
  data.fill(seq & 0xff)
  const p = group
    .persist({
      entriesToPersist: [{ seq, epoch: 3, kind: 'normal', data: data.slice() }],
      hardState: { epoch: 3, votedFor: 'self', commitSeq: seq },
    })
    .then(() => {
      writeSync(1, `acked ${seq}\n`)
      if (++acked >= Number(killAfter)) process.kill(process.pid, 'SIGKILL')
    })
  pending.push(p)
  // Keep a few writes in flight so the kill lands in the middle of some.
  if (pending.length >= 4) await pending.shift()
}
