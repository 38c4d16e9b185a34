/**
 * One demo agent, run as its own process by `understudy demo`: a persistent
 * identity and a libp2p node on 127.0.0.1 in its data directory, advertising its
 * site, then a primary or a shadow as the conductor asks over the IPC channel.
 * It exits when the conductor goes away (the channel closes) or on SIGTERM;
 * SIGINT is left to the conductor, which owns the cleanup.
 *
 * Usage: node agent-main.ts <dataDir> <site> [bootstrap multiaddr]
 */

import { readFile } from 'node:fs/promises'
import { availableParallelism, freemem, totalmem } from 'node:os'
import { peerIdFromString } from '@libp2p/peer-id'
import { createMeshNode, loadOrCreateIdentity } from '../mesh/index.ts'
import { DemoError } from './demo-error.ts'
import type { AgentAnswer, AgentOps, AgentReady, AgentRequest } from './messages.ts'
import { Primary } from './primary.ts'
import { Shadow } from './shadow.ts'

/** The epoch of the demo's one and only primary. */
const EPOCH = 1

const [dataDir, site, bootstrap] = process.argv.slice(2)
if (dataDir === undefined || site === undefined || process.send === undefined) {
  throw new DemoError('usage: agent-main.ts <dataDir> <site> [bootstrap] (spawned with an IPC channel)')
}
const send = process.send.bind(process)

const identity = await loadOrCreateIdentity(dataDir)
let role = 'idle'
const node = await createMeshNode({
  privateKey: identity.privateKey,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  ...(bootstrap !== undefined ? { bootstrap: [bootstrap], bootstrapRetryInterval: 500 } : {}),
  status: {
    advertiseRetry: 200,
    advertiseSettle: 1000,
    getStatus: () => ({
      site,
      org: 'demo',
      labels: { pid: String(process.pid) },
      cpu: { cores: availableParallelism(), free: availableParallelism() },
      memory: { totalBytes: totalmem(), freeBytes: freemem() },
      ownerIdle: true,
      workloads: role === 'idle' ? [] : [{ id: 'kv', role }],
      version: '0.1.0',
    }),
  },
})

let primary: Primary | undefined
let shadow: Shadow | undefined

const handlers: { [K in keyof AgentOps]: (args: AgentOps[K]['args']) => Promise<AgentOps[K]['result']> } = {
  peers: async ({ timeoutMs }) => {
    const candidates = await node.services.status.listCandidates({ timeout: timeoutMs })
    return candidates.map((c) => ({ peerId: c.peerId.toString(), site: c.status.site, via: c.via }))
  },
  shadow: async ({ logId, imagePath }) => {
    role = 'shadow'
    shadow = await Shadow.start({ node, logId, image: await readImage(imagePath), dataDir })
    return null
  },
  primary: async ({ logId, imagePath, shadows }) => {
    role = 'primary'
    primary = await Primary.start({
      node,
      logId,
      image: await readImage(imagePath),
      shadows: shadows.map((id) => peerIdFromString(id)),
      dataDir,
      epoch: EPOCH,
    })
    return null
  },
  request: ({ line }) => need(primary, 'primary').request(line),
  finish: () => need(primary, 'primary').finish(),
  progress: async () => need(shadow, 'shadow').progress(),
  verify: ({ seq }) => need(shadow, 'shadow').verify(seq),
}

process.on('message', (message: AgentRequest) => {
  const handler = handlers[message.op] as (args: unknown) => Promise<unknown>
  handler(message.args).then(
    (result) => answer({ id: message.id, ok: true, result }),
    (err: unknown) =>
      answer({
        id: message.id,
        ok: false,
        error: err instanceof Error ? err.message : String(err),
        ...(err instanceof Error && 'code' in err ? { code: String(err.code) } : {}),
      }),
  )
})

let stopping = false
async function shutdown(code: number): Promise<void> {
  if (stopping) return
  stopping = true
  // Never hang on the way out: the conductor waits for this exit.
  setTimeout(() => process.exit(code), 2000).unref()
  await primary?.stop()
  await shadow?.stop()
  await node.stop()
  process.exit(code)
}
function stopOn(event: 'disconnect' | 'SIGTERM'): void {
  process.on(event, () => {
    shutdown(0).catch((err: unknown) => {
      process.stderr.write(`demo agent ${site}: could not stop cleanly: ${String(err)}\n`)
      process.exit(1)
    })
  })
}
stopOn('disconnect')
stopOn('SIGTERM')
process.on('SIGINT', () => {})

const ready: AgentReady = {
  type: 'ready',
  peerId: node.peerId.toString(),
  addrs: node.getMultiaddrs().map(String),
  identityCreated: identity.created,
}
send(ready)

function answer(message: AgentAnswer): void {
  if (process.connected) send(message)
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new DemoError(`this agent is not a ${what}`)
  return value
}

async function readImage(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path))
}
