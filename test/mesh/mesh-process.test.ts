/** Agents in separate processes: a receiver is killed mid-stream and restarted from its data directory. */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import test from 'ava'
import { createMeshNode } from '../../src/mesh/index.ts'
import { MemoryLog, seqOf, waitFor } from './helpers.ts'

const AGENT = new URL('./fixtures/agent.ts', import.meta.url).pathname

interface Child {
  process: ChildProcess
  peerId: string
  addrs: string[]
  nextSeq: number
}

/**
 * Starts the fixture agent. `process.execPath` is the Node 24 that runs this test (what
 * `npx node` resolves to); spawning it directly means a signal reaches the agent itself,
 * not an npm wrapper that would leave it running.
 */
async function startAgent(dataDir: string, port: number): Promise<Child> {
  const child = spawn(process.execPath, [AGENT, dataDir, String(port), 'w'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`agent exited with ${code}: ${stderr}`)))
  })
  return { process: child, ...(JSON.parse(first) as Omit<Child, 'process'>) }
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

test('a receiver in another process is killed mid-stream, restarts with the same PeerId, and the stream resumes without loss', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'understudy-agent-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const port = await freePort()

  let child = await startAgent(dataDir, port)
  t.teardown(() => {
    child.process.kill('SIGKILL')
  })
  t.is(child.nextSeq, 0)
  t.deepEqual(child.addrs, [`/ip4/127.0.0.1/tcp/${port}/p2p/${child.peerId}`])

  const node = await createMeshNode({
    logStream: { heartbeatInterval: 100, peerTimeout: 1500, reconnectMinDelay: 50, reconnectMaxDelay: 300 },
  })
  t.teardown(() => node.stop())
  const childId = peerIdFromString(child.peerId)
  await node.dial(multiaddr(child.addrs[0] as string))

  const status = await node.services.status.queryStatus(childId)
  t.is(status.labels.pid, String(child.process.pid))

  // The primary produces entries steadily, so the crash lands in the middle of the stream.
  const log = new MemoryLog()
  const producer = setInterval(() => {
    if (log.entries.length < 6000) log.fill(50, 256)
  }, 5)
  t.teardown(() => clearInterval(producer))
  const connects: number[] = []
  const sender = node.services.logStream.send(childId, {
    logId: 'w',
    epoch: 1,
    readFrom: log.readFrom,
    maxBatchEntries: 50,
    onConnect: (state) => connects.push(state.nextSeq),
  })
  t.teardown(() => sender.stop())
  log.attach((head) => sender.notify(head))

  // Crash the receiver while entries are in flight.
  await waitFor(() => sender.ackedSeq >= 2000, 20_000, '2000 acked entries')
  child.process.kill('SIGKILL')
  await exited(child.process)
  const ackedAtCrash = sender.ackedSeq
  t.true(ackedAtCrash < 5999, 'the crash happened mid-stream')

  child = await startAgent(dataDir, port)
  t.log(`acked ${ackedAtCrash} when killed; the restarted agent recovered ${child.nextSeq} entries`)
  t.is(child.peerId, childId.toString(), 'same identity after the restart')
  // Every acknowledged entry survived the crash: acks come only after a durable write.
  t.true(child.nextSeq - 1 >= ackedAtCrash, `recovered ${child.nextSeq}, acked ${ackedAtCrash}`)

  await sender.waitForAck(5999, { signal: AbortSignal.timeout(20_000) })
  t.deepEqual(connects.slice(1), [child.nextSeq], 'resumed exactly at what the restarted agent had stored')
  child.process.kill('SIGTERM')
  t.is(await exited(child.process), 0)

  // The agent's file holds every entry once, in order, with its content.
  const bytes = await readFile(join(dataDir, 'entries.bin'))
  const seqs: number[] = []
  for (let offset = 0; offset < bytes.length; ) {
    const seq = bytes.readUInt32BE(offset)
    const length = bytes.readUInt32BE(offset + 8)
    const payload = bytes.subarray(offset + 12, offset + 12 + length)
    if (seqOf(payload) !== seq || length !== 256) t.fail(`entry ${seq} has wrong content`)
    seqs.push(seq)
    offset += 12 + length
  }
  t.deepEqual(
    seqs,
    Array.from({ length: 6000 }, (_, i) => i),
  )
})
