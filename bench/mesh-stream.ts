/**
 * Log stream throughput and sender memory, printed as JSON.
 *
 *   npx node --expose-gc bench/mesh-stream.ts [--quick]
 *
 * 1. One sender to two receivers with acks, 64 B and 64 KiB entries, against the same
 *    payload pushed over a raw libp2p stream (noise + yamux, 64 KiB writes) and a raw
 *    TCP socket (node:net, no encryption), all measured in this run on loopback.
 * 2. Memory held by a sender whose receiver (another process) never finishes `store`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createConnection, createServer, type Socket } from 'node:net'
import { createInterface } from 'node:readline'
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createMeshNode, type MeshNode, type StreamEntry } from '../src/mesh/index.ts'

const RAW_PROTOCOL = '/understudy-bench/raw/1.0.0'
const quick = process.argv.includes('--quick')
/** The naive contrast stops here: enough to show growth without exhausting the machine. */
const NAIVE_CAP = 256 * 2 ** 20

if (process.argv.includes('--stalled-receiver')) {
  await stalledReceiver()
} else {
  await main()
}

async function main(): Promise<void> {
  const nodes = await Promise.all([createMeshNode(), createMeshNode(), createMeshNode()])
  const [sender, r1, r2] = nodes as [MeshNode, MeshNode, MeshNode]
  for (const receiver of [r1, r2]) {
    const addr = receiver.getMultiaddrs()[0]
    if (addr === undefined) throw new Error('receiver has no address')
    await sender.dial(addr)
  }
  for (const receiver of [r1, r2]) await receiver.handle(RAW_PROTOCOL, rawSink)

  const scale = quick ? 0.1 : 1
  const cases = [
    { name: '64 B', size: 64, count: Math.round(400_000 * scale) },
    { name: '64 KiB', size: 64 * 1024, count: Math.round(2_000 * scale) },
  ]
  const throughput = []
  for (const c of cases) {
    const bytes = c.size * c.count
    const log = await logStreamRun(sender, [r1, r2], c.size, c.count, 1024)
    const oneByOne = c.size === 64 ? await logStreamRun(sender, [r1, r2], c.size, c.count, 1) : undefined
    const libp2p = await rawLibp2pRun(sender, [r1, r2], bytes)
    const tcp = await rawTcpRun(2, bytes)
    throughput.push({
      entry: c.name,
      entries: c.count,
      receivers: 2,
      logStream: figures(log, c.count, bytes),
      ...(oneByOne !== undefined
        ? { logStreamSourceYieldingSingleEntries: figures(oneByOne, c.count, bytes) }
        : {}),
      rawLibp2pStream: figures(libp2p, c.count, bytes),
      rawTcpSocket: figures(tcp, c.count, bytes),
      ratioToRawLibp2p: round(libp2p / log, 3),
      ratioToRawTcp: round(tcp / log, 3),
    })
    // biome-ignore lint/suspicious/noExplicitAny: gc exists only under --expose-gc
    ;(globalThis as any).gc?.()
  }
  await Promise.all(nodes.map((n) => n.stop()))

  const memory = await stalledSenderMemory()
  console.log(
    JSON.stringify(
      {
        bench: 'mesh-stream',
        node: process.version,
        note: 'one sender, two receivers on loopback. seconds: wall time until both receivers acknowledged (log stream) or received (raw) the whole payload; entriesPerSec and MBps count payload delivered to EACH receiver (aggregate is twice that); ratios are time(raw) / time(log stream). The log stream source yields arrays of 1024 entries (as a level nextv would); logStreamSourceYieldingSingleEntries is the same with an entry-at-a-time source.',
        throughput,
        stalledReceiver: memory,
      },
      null,
      2,
    ),
  )
}

function figures(seconds: number, entries: number, bytes: number) {
  return {
    seconds: round(seconds, 3),
    entriesPerSec: Math.round(entries / seconds),
    MBps: round(bytes / seconds / 1e6, 1),
  }
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits))
}

/** Seconds until both receivers acknowledged every entry; the source yields arrays of `chunk` entries. */
async function logStreamRun(
  from: MeshNode,
  to: MeshNode[],
  size: number,
  count: number,
  chunk: number,
): Promise<number> {
  const logId = `bench-${size}-${count}-${chunk}`
  const entries: StreamEntry[] = []
  for (let seq = 0; seq < count; seq++)
    entries.push({ seq, epoch: 1, bytes: new Uint8Array(size).fill(seq & 0xff) })
  let stored = 0
  for (const receiver of to) {
    receiver.services.logStream.receive(logId, {
      store: async (batch) => {
        stored += batch.length
      },
    })
  }
  const started = performance.now()
  const senders = to.map((receiver) =>
    from.services.logStream.send(receiver.peerId, {
      logId,
      epoch: 1,
      readFrom: (seq) =>
        (async function* () {
          if (chunk === 1) {
            for (let i = seq; i < count; i++) yield entries[i] as StreamEntry
            return
          }
          for (let i = seq; i < count; i += chunk) yield entries.slice(i, Math.min(count, i + chunk))
        })(),
    }),
  )
  await Promise.all(senders.map((s) => s.waitForAck(count - 1, { signal: AbortSignal.timeout(300_000) })))
  const seconds = (performance.now() - started) / 1000
  await Promise.all(senders.map((s) => s.stop()))
  if (stored !== count * to.length) throw new Error(`stored ${stored}, expected ${count * to.length}`)
  return seconds
}

/** Receiver of the raw baseline: counts bytes, answers one byte when the announced total arrived. */
function rawSink(stream: Stream): void {
  let expected = -1
  let received = 0
  stream.addEventListener('message', (evt) => {
    if (expected < 0) {
      const data = evt.data.subarray()
      expected = new DataView(data.buffer, data.byteOffset).getFloat64(0)
      received += data.byteLength - 8
    } else {
      received += evt.data.byteLength
    }
    if (received >= expected) {
      stream.send(Uint8Array.of(1))
      void stream.close()
    }
  })
}

/** Seconds to push `bytes` to every receiver over plain libp2p streams, 64 KiB writes, honouring drain. */
async function rawLibp2pRun(from: MeshNode, to: MeshNode[], bytes: number): Promise<number> {
  const chunk = new Uint8Array(64 * 1024).fill(7)
  const started = performance.now()
  await Promise.all(
    to.map(async (receiver) => {
      const stream = await from.dialProtocol(receiver.peerId, RAW_PROTOCOL)
      const done = new Promise<void>((resolve) =>
        stream.addEventListener('message', () => resolve(), { once: true }),
      )
      const header = new Uint8Array(8)
      new DataView(header.buffer).setFloat64(0, bytes)
      stream.send(header)
      for (let sent = 0; sent < bytes; sent += chunk.byteLength) {
        const part = bytes - sent < chunk.byteLength ? chunk.subarray(0, bytes - sent) : chunk
        if (!stream.send(part)) await stream.onDrain()
      }
      await done
      await stream.close()
    }),
  )
  return (performance.now() - started) / 1000
}

/** Seconds to push `bytes` to `receivers` TCP sockets on loopback, 64 KiB writes, honouring drain. */
async function rawTcpRun(receivers: number, bytes: number): Promise<number> {
  const servers = await Promise.all(
    Array.from({ length: receivers }, async () => {
      const server = createServer((socket) => {
        let received = 0
        socket.on('data', (data) => {
          received += data.byteLength
          if (received >= bytes) socket.end(Uint8Array.of(1))
        })
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      return server
    }),
  )
  const chunk = Buffer.alloc(64 * 1024, 7)
  const started = performance.now()
  await Promise.all(
    servers.map(async (server) => {
      const address = server.address()
      if (address === null || typeof address === 'string') throw new Error('no address')
      const socket: Socket = createConnection(address.port, '127.0.0.1')
      await new Promise((resolve) => socket.once('connect', resolve))
      const done = new Promise((resolve) => socket.once('data', resolve))
      for (let sent = 0; sent < bytes; sent += chunk.byteLength) {
        const part = bytes - sent < chunk.byteLength ? chunk.subarray(0, bytes - sent) : chunk
        if (!socket.write(part)) await new Promise((resolve) => socket.once('drain', resolve))
      }
      await done
      socket.destroy()
    }),
  )
  const seconds = (performance.now() - started) / 1000
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return seconds
}

/**
 * A sender streams an endless source of 64 KiB entries to a receiver in another process
 * whose store never resolves. Reports what the sender process holds once the window is
 * full, against the window it was granted.
 */
async function stalledSenderMemory() {
  const child: ChildProcess = spawn(
    process.execPath,
    [new URL(import.meta.url).pathname, '--stalled-receiver'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve)
      child.once('exit', (code) => reject(new Error(`stalled receiver exited with ${code}`)))
    })
    const { peerId, addr } = JSON.parse(line) as { peerId: string; addr: string }
    const node = await createMeshNode()
    await node.dial(multiaddr(addr))
    const entry = new Uint8Array(64 * 1024).fill(1)
    let pulled = 0
    const before = heldMemory()
    const windowBytes = 8 * 1024 * 1024
    const sender = node.services.logStream.send(peerIdFromString(peerId), {
      logId: 'stalled',
      epoch: 1,
      windowBytes,
      readFrom: (seq) =>
        (async function* () {
          for (let i = seq; ; i++) {
            pulled++
            yield { seq: i, epoch: 1, bytes: entry.slice() }
          }
        })(),
    })
    const stallMs = quick ? 1000 : 3000
    await new Promise((resolve) => setTimeout(resolve, stallMs / 3))
    const early = heldMemory()
    await new Promise((resolve) => setTimeout(resolve, (2 * stallMs) / 3))
    const after = heldMemory()
    await sender.stop()

    // Contrast: a plain libp2p stream written without regard for backpressure, same stalled peer.
    const naiveBefore = heldMemory()
    const raw = await node.dialProtocol(peerIdFromString(peerId), RAW_PROTOCOL)
    const naiveStarted = performance.now()
    let naiveSent = 0
    while (performance.now() - naiveStarted < stallMs && naiveSent < NAIVE_CAP) {
      raw.send(entry.slice())
      naiveSent += entry.byteLength
      if (naiveSent % (4 * 2 ** 20) === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    const naiveAfter = heldMemory()
    const naiveBuffered = raw.writeBufferLength
    raw.abort(new Error('bench done'))

    const result = {
      entryBytes: entry.byteLength,
      windowBytes,
      secondsStalled: stallMs / 1000,
      logStream: {
        entriesPulledFromSource: pulled,
        senderBufferedBytes: sender.bufferedBytes,
        arrayBuffersGrowthAtThirdOfStall: early.arrayBuffers - before.arrayBuffers,
        arrayBuffersGrowthAtEnd: after.arrayBuffers - before.arrayBuffers,
        heapUsedGrowthAtEnd: after.heapUsed - before.heapUsed,
      },
      naiveRawStream: {
        bytesWritten: naiveSent,
        streamWriteBufferBytes: naiveBuffered,
        arrayBuffersGrowth: naiveAfter.arrayBuffers - naiveBefore.arrayBuffers,
      },
      note: 'every entry is a fresh 64 KiB buffer; growth measured after gc (run with --expose-gc). The log sender keeps only the sizes of unacknowledged entries (it re-reads its source after a reconnect); the stalled receiver, another process, holds the window. The naive writer stops at its cap.',
    }
    await node.stop()
    return result
  } finally {
    child.kill('SIGKILL')
  }
}

function heldMemory(): NodeJS.MemoryUsage {
  // biome-ignore lint/suspicious/noExplicitAny: gc exists only under --expose-gc
  ;(globalThis as any).gc?.()
  return process.memoryUsage()
}

/** Child role: a receiver whose store never completes. */
async function stalledReceiver(): Promise<void> {
  const node = await createMeshNode()
  node.services.logStream.receive('stalled', { store: () => new Promise<void>(() => {}) })
  // The naive contrast: accept a raw stream and never read it.
  await node.handle(RAW_PROTOCOL, (stream) => stream.pause())
  process.stdout.write(
    `${JSON.stringify({ peerId: node.peerId.toString(), addr: String(node.getMultiaddrs()[0]) })}\n`,
  )
}
