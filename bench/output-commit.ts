/**
 * What output commit adds to a request, printed as JSON: the kv guest on the same three agents in the
 * same run, as workload A with 1 replica (output released once its entry is stored locally) and
 * workload B with 3 replicas (released once a majority stored it), each sent the same sequential
 * requests (`SET k v` + `GET k`, acknowledged when `v` is released), in alternating blocks so that a
 * noisy spell hurts both alike. Figures: per-request latency median/p90/p99 of A and B, the ratio B/A
 * and the ms added; the same through src/demo/kv-client.ts (which polls); and the kv guest run by the
 * machine alone in this process (no agent at all), the floor under both.
 *
 *   npx node bench/output-commit.ts [--requests 200]
 *
 * Agents run at the default replication settings (src/agent/config/schema.ts DEFAULTS).
 */
import { readFile } from 'node:fs/promises'
import { buildGuest } from '../scripts/build-guests.ts'
import type { ControlClient } from '../src/agent/control/index.ts'
import { KvClient } from '../src/demo/kv-client.ts'
import { numberFlag, round, runKv, type Summary, summarize, TIMING, withCluster } from './group-harness.ts'
import { localKvLatencies } from './group-local-kv.ts'
import { KvWriter, ReleasedLines } from './group-writer.ts'

const requests = numberFlag('--requests', 200)
const WARMUP = 10
const BLOCK = 10
const image = await buildGuest('kv')
const imageBytes = new Uint8Array(await readFile(image))

const figures = await withCluster(3, async (cluster, signal) => {
  const via = cluster.agents[0]!
  const workloads = { a: 'oc-a', b: 'oc-b' } as const
  const summaries = {
    a: await runKv(via.client, image, workloads.a, 1, signal),
    b: await runKv(via.client, image, workloads.b, 3, signal),
  }
  const stop = new AbortController()
  const streams = AbortSignal.any([signal, stop.signal])
  // Requests go to, and replies are read from, the agent hosting each primary: no forwarding hop.
  const primaryOf = (k: 'a' | 'b') => cluster.agent(summaries[k].primary!)
  const lines = {
    a: new ReleasedLines(primaryOf('a').client, workloads.a, 'primary', streams),
    b: new ReleasedLines(primaryOf('b').client, workloads.b, 'primary', streams),
  }
  await Promise.all([lines.a.ready, lines.b.ready])
  const writerOf = (k: 'a' | 'b') =>
    new KvWriter({
      workload: workloads[k],
      clients: [primaryOf(k).client],
      followers: [lines[k]],
      // A retry would be a second request inside one measurement: wait long, and count any.
      retryAfterMs: 30_000,
      signal,
    })
  const writers = { a: writerOf('a'), b: writerOf('b') }
  const pollers = {
    a: new KvClient([primaryOf('a').client], workloads.a, { retryAfterMs: 30_000, signal }),
    b: new KvClient([primaryOf('b').client], workloads.b, { retryAfterMs: 30_000, signal }),
  }
  const e2e = { a: [] as number[], b: [] as number[] }
  const stdinMs = { a: [] as number[], b: [] as number[] }
  const polled = { a: [] as number[], b: [] as number[] }
  let retried = 0

  const oneWrite = async (k: 'a' | 'b', i: number, measured: boolean) => {
    const ack = await writers[k].set(`k${i}`, `${k}-w${i}`)
    if (ack.attempts > 1) retried++
    if (!measured) return
    e2e[k].push(ack.latencyMs)
    stdinMs[k].push(ack.stdinMs)
  }
  const onePoll = async (k: 'a' | 'b', i: number, measured: boolean) => {
    const res = await pollers[k].set(`p${i}`, `${k}-p${i}`)
    if (res.attempts > 1) retried++
    if (measured) polled[k].push(res.latencyMs)
  }
  for (const each of [oneWrite, onePoll]) {
    for (const k of ['a', 'b'] as const) for (let i = 0; i < WARMUP; i++) await each(k, -1 - i, false)
    for (let done = 0; done < requests; done += BLOCK) {
      for (const k of ['a', 'b'] as const) {
        for (let i = done; i < Math.min(requests, done + BLOCK); i++) await each(k, i, true)
      }
    }
  }
  for (const w of Object.values(writers)) w.close()
  stop.abort()
  // The floor, while the same agents idle beside it.
  const local = await localKvLatencies(imageBytes, requests, WARMUP)
  await checkStored(primaryOf('b').client, workloads.b, requests)
  return { e2e, stdinMs, polled, local, retried, sites: summaries.b.replicas.map((r) => r.site) }
})

const a = summarize(figures.e2e.a)!
const b = summarize(figures.e2e.b)!
const pollA = summarize(figures.polled.a)!
const pollB = summarize(figures.polled.b)!
const local = summarize(figures.local, 4)!
console.log(
  JSON.stringify({
    bench: 'output-commit',
    node: process.version,
    requests,
    replication: TIMING,
    note:
      'ms per sequential request (SET k v + GET k, acknowledged when v is released), sent to and read from the agent hosting the primary. ' +
      'Baseline A (1 replica) includes: the control API round trip (HTTP over a Unix socket) of the stdin call, the agent finding the primary (a status query to itself), ' +
      'the guest running the request, each Ready persisted to level with fsync before its output is released, and the released output pushed back as a server-sent event. ' +
      'B (3 replicas, sites ' +
      figures.sites.join(', ') +
      ') adds: the primary lookup asking two other agents over the mesh, the entries sent to the shadows, stored (fsync) and acked, and the wait for a majority. ' +
      'stdinCallMs is the stdin call alone, so B - A of it is the lookup, not output commit. kvClient polls released output every 20 ms (src/demo/kv-client.ts): its figures are rounded up to the poll. ' +
      'local is the kv guest run by the machine alone in this process (no agent, no log, no persistence).',
    unreplicated: { replicas: 1, requestMs: a, stdinCallMs: summarize(figures.stdinMs.a) },
    replicated: { replicas: 3, requestMs: b, stdinCallMs: summarize(figures.stdinMs.b) },
    ratioReplicatedToUnreplicated: ratios(b, a),
    addedMs: differences(b, a),
    addedMsSplit: split(b, a, summarize(figures.stdinMs.b)!, summarize(figures.stdinMs.a)!),
    kvClient: { unreplicated: pollA, replicated: pollB, ratio: ratios(pollB, pollA) },
    local: { requestMs: local, ratioUnreplicatedToLocal: round(a.median / local.median, 1) },
    retriedRequests: figures.retried,
  }),
)

function ratios(x: Summary, base: Summary) {
  return {
    median: round(x.median / base.median, 3),
    p90: round(x.p90 / base.p90, 3),
    p99: round(x.p99 / base.p99, 3),
  }
}

/** Of the median ms added: the primary lookup (seen in the stdin call), and the rest, output commit's share. */
function split(x: Summary, base: Summary, xStdin: Summary, baseStdin: Summary) {
  const lookup = xStdin.median - baseStdin.median
  return { primaryLookup: round(lookup), outputCommit: round(x.median - base.median - lookup) }
}

function differences(x: Summary, base: Summary) {
  return { median: round(x.median - base.median), p90: round(x.p90 - base.p90), p99: round(x.p99 - base.p99) }
}

/** Every measured write must be in the replicated store: a bench of writes that were lost proves nothing. */
async function checkStored(client: ControlClient, workload: string, count: number): Promise<void> {
  const keys = new Set(await new KvClient([client], workload).keys())
  for (let i = 0; i < count; i++) {
    if (!keys.has(`k${i}`) || !keys.has(`p${i}`))
      throw new Error(`${workload} lost the write of k${i} or p${i}`)
  }
}
