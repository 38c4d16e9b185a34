/**
 * Keeps this node connected to its bootstrap peers: dials each one at start and
 * again every `retryInterval` while it is not connected (a bootstrap agent may start
 * after us, or restart). The peers are tagged keep-alive so the connection manager
 * does not prune them. (The @libp2p/bootstrap module is not a dependency; this is
 * the small part of it the mesh needs, plus retries.)
 */
import {
  type ComponentLogger,
  KEEP_ALIVE,
  type Logger,
  type PeerId,
  type PeerStore,
  type Startable,
} from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { ConfigError } from '../errors/index.ts'

export interface BootstrapInit {
  /** Multiaddrs that end in /p2p/<peer id>. */
  list: string[]
  /** Redial a disconnected bootstrap peer this often (ms). */
  retryInterval?: number
  /** Each dial gives up after this long (ms). */
  dialTimeout?: number
}

export interface BootstrapComponents {
  peerId: PeerId
  peerStore: PeerStore
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

export interface BootstrapDialer {
  readonly peers: readonly PeerId[]
  /** Dials every bootstrap peer that is not connected now; resolves when all attempts ended. */
  dialAll(): Promise<void>
}

const RETRY_INTERVAL = 10_000
const DIAL_TIMEOUT = 5_000
const TAG = `${KEEP_ALIVE}-understudy-bootstrap`

interface BootstrapPeer {
  id: PeerId
  addr: Multiaddr
}

class Bootstrap implements BootstrapDialer, Startable {
  private readonly components: BootstrapComponents
  private readonly list: BootstrapPeer[]
  private readonly retryInterval: number
  private readonly dialTimeout: number
  private readonly log: Logger
  private timer: ReturnType<typeof setInterval> | undefined
  private controller: AbortController | undefined

  constructor(components: BootstrapComponents, init: BootstrapInit) {
    this.components = components
    this.log = components.logger.forComponent('understudy:mesh:bootstrap')
    this.retryInterval = init.retryInterval ?? RETRY_INTERVAL
    this.dialTimeout = init.dialTimeout ?? DIAL_TIMEOUT
    this.list = init.list.map(parseBootstrapAddr).filter((peer) => !peer.id.equals(components.peerId))
  }

  readonly [Symbol.toStringTag] = 'understudy/bootstrap'

  get peers(): readonly PeerId[] {
    return this.list.map((peer) => peer.id)
  }

  isStarted(): boolean {
    return this.controller !== undefined
  }

  async start(): Promise<void> {
    this.controller = new AbortController()
    for (const peer of this.list) {
      await this.components.peerStore.merge(peer.id, {
        multiaddrs: [peer.addr],
        tags: { [TAG]: { value: 50 } },
      })
    }
  }

  afterStart(): void {
    if (this.list.length === 0) return
    void this.dialAll()
    this.timer = setInterval(() => void this.dialAll(), this.retryInterval)
    this.timer.unref()
  }

  stop(): void {
    this.controller?.abort()
    this.controller = undefined
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  async dialAll(): Promise<void> {
    const controller = this.controller
    if (controller === undefined) return
    const connected = new Set(
      this.components.connectionManager.getConnections().map((c) => c.remotePeer.toString()),
    )
    await Promise.all(
      this.list
        .filter((peer) => !connected.has(peer.id.toString()))
        .map(async (peer) => {
          try {
            await this.components.connectionManager.openConnection(peer.addr, {
              signal: AbortSignal.any([controller.signal, AbortSignal.timeout(this.dialTimeout)]),
            })
            this.log('connected to bootstrap peer %p', peer.id)
          } catch (err) {
            // Expected while the bootstrap agent is down; the next round retries.
            this.log('could not reach bootstrap peer %p - %e', peer.id, err)
          }
        }),
    )
  }
}

function parseBootstrapAddr(text: string): BootstrapPeer {
  let addr: Multiaddr
  try {
    addr = multiaddr(text)
  } catch (err) {
    throw new ConfigError(`bootstrap address ${text} is not a multiaddr: ${(err as Error).message}`, {
      cause: err,
    })
  }
  const peerIdText = addr.getComponents().findLast((c) => c.name === 'p2p')?.value
  if (peerIdText === undefined) {
    throw new ConfigError(
      `bootstrap address ${text} must end in /p2p/<peer id> so the peer can be authenticated`,
    )
  }
  return { id: peerIdFromString(peerIdText), addr }
}

export function bootstrap(init: BootstrapInit): (components: BootstrapComponents) => BootstrapDialer {
  return (components) => new Bootstrap(components, init)
}
