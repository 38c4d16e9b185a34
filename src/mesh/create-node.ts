/**
 * Builds an agent's libp2p node: TCP + noise + yamux, identify, ping, a private
 * kad-dht (`/understudy/kad/1.0.0`, never the public Amino DHT), bootstrap peers,
 * optional mDNS for a lab LAN, a connection gater the policy layer supplies, and the
 * understudy protocols (log stream, status, messenger).
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Identify } from '@libp2p/identify'
import { identify } from '@libp2p/identify'
import type { Libp2p, PeerDiscovery, PeerId, PrivateKey } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import type { Datastore } from 'interface-datastore'
import { createLibp2p, type Libp2pOptions } from 'libp2p'
import { type BootstrapDialer, bootstrap } from './bootstrap.ts'
import { type LogStream, type LogStreamInit, logStream } from './log-stream/index.ts'
import { type Messenger, type MessengerInit, messenger } from './messenger/index.ts'
import { type StatusInit, type StatusService, status } from './status/index.ts'

export interface MeshNodeOptions {
  /** The agent's key (see loadOrCreateIdentity); a fresh one when absent (tests, one-shot clients). */
  privateKey?: PrivateKey
  /** Listen addresses. Default `/ip4/127.0.0.1/tcp/0`: nothing is exposed unless configured. */
  listen?: string[]
  /** Addresses to announce instead of the listen addresses (NAT, containers). */
  announce?: string[]
  /** Multiaddrs ending in /p2p/<peer id>; dialed at start and kept connected. */
  bootstrap?: string[]
  /** Redial a lost bootstrap peer this often (ms, default 10 s). */
  bootstrapRetryInterval?: number
  /** mDNS discovery on the local network (default off). */
  mdns?: boolean | { interval?: number }
  /** Answer DHT queries ('server', default) or only ask them ('client', for hosts others cannot dial). */
  dhtMode?: 'server' | 'client'
  /** Prefix of every understudy protocol id, DHT included (default 'understudy'). */
  protocolPrefix?: string
  /**
   * Policy hook: may we talk to this peer at all? Asked before dialing and for every
   * connection once the remote peer is authenticated. Default: allow.
   */
  connectionGater?: (peerId: PeerId) => boolean | Promise<boolean>
  /** What this agent offers; without getStatus it only lists others. */
  status?: StatusInit
  logStream?: LogStreamInit
  /** Topic messages and requests between agents (limits, the authorize hook and its reports). */
  messenger?: MessengerInit
  /** Where libp2p keeps peers and DHT records (default in memory). */
  datastore?: Datastore
  maxConnections?: number
  /** Inbound connections accepted per remote host per second (libp2p default 5); loopback is exempt. */
  inboundConnectionThreshold?: number
  /** Agent version string reported by identify. */
  version?: string
  /** libp2p's own metrics (e.g. @libp2p/prometheus-metrics on the agent's registry). */
  metrics?: Libp2pOptions['metrics']
  /** Start the node (default true). */
  start?: boolean
}

// A type alias, not an interface: libp2p's ServiceMap needs an index-compatible type.
export type MeshServices = {
  identify: Identify
  ping: Ping
  dht: KadDHT
  logStream: LogStream
  status: StatusService
  messenger: Messenger
  bootstrap: BootstrapDialer
}

export type MeshNode = Libp2p<MeshServices>

export const DEFAULT_PROTOCOL_PREFIX = 'understudy'
const MDNS_SERVICE_TAG = '_understudy._udp.local'

type MdnsComponents = Parameters<ReturnType<typeof mdns>>[0] & {
  connectionManager: ConnectionManager
  peerId: PeerId
}

/** mDNS under understudy's own service tag, dialing what it finds: libp2p 3 does not dial discovered peers. */
function dialingMdns(init: { interval?: number }): (components: MdnsComponents) => PeerDiscovery {
  const factory = mdns({ ...init, serviceTag: MDNS_SERVICE_TAG })
  return (components) => {
    const discovery = factory(components)
    const log = components.logger.forComponent('understudy:mesh:mdns')
    discovery.addEventListener('peer', (evt) => {
      const peer = evt.detail
      if (
        peer.id.equals(components.peerId) ||
        components.connectionManager.getConnections(peer.id).length > 0
      )
        return
      // Pin the peer id in each address so the dial authenticates who answered.
      const addrs = peer.multiaddrs.map((addr) =>
        addr.getComponents().some((c) => c.name === 'p2p') ? addr : addr.encapsulate(`/p2p/${peer.id}`),
      )
      if (addrs.length === 0) return
      components.connectionManager.openConnection(addrs).catch((err: unknown) => {
        log('could not dial discovered peer %p - %e', peer.id, err)
      })
    })
    return discovery
  }
}

export async function createMeshNode(options: MeshNodeOptions = {}): Promise<MeshNode> {
  const prefix = options.protocolPrefix ?? DEFAULT_PROTOCOL_PREFIX
  const allow = options.connectionGater
  const deny = allow == null ? undefined : async (peerId: PeerId): Promise<boolean> => !(await allow(peerId))
  const mdnsInit = options.mdns === true ? {} : options.mdns === false ? undefined : options.mdns

  const node = await createLibp2p<MeshServices>({
    start: false,
    ...(options.privateKey != null ? { privateKey: options.privateKey } : {}),
    ...(options.datastore != null ? { datastore: options.datastore } : {}),
    ...(options.metrics != null ? { metrics: options.metrics } : {}),
    nodeInfo: { name: 'understudy', version: options.version ?? '0.1.0' },
    addresses: {
      listen: options.listen ?? ['/ip4/127.0.0.1/tcp/0'],
      ...(options.announce != null ? { announce: options.announce } : {}),
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(deny != null
      ? {
          connectionGater: {
            denyDialPeer: deny,
            denyInboundEncryptedConnection: deny,
            denyOutboundEncryptedConnection: deny,
          },
        }
      : {}),
    connectionManager: {
      ...(options.maxConnections != null ? { maxConnections: options.maxConnections } : {}),
      ...(options.inboundConnectionThreshold != null
        ? { inboundConnectionThreshold: options.inboundConnectionThreshold }
        : {}),
      // Several agents on one machine (tests, a host running many) would trip the per-host rate limit.
      allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'],
    },
    peerDiscovery: mdnsInit != null ? [dialingMdns(mdnsInit)] : [],
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: `/${prefix}/kad/1.0.0`,
        clientMode: (options.dhtMode ?? 'server') === 'client',
        // Lab machines have private addresses: the default mapper would drop every one of them.
        peerInfoMapper: passthroughMapper,
        logPrefix: 'understudy:mesh:dht',
      }),
      logStream: logStream({ protocolPrefix: prefix, ...options.logStream }),
      status: status({ protocolPrefix: prefix, ...options.status }),
      messenger: messenger({ protocolPrefix: prefix, ...options.messenger }),
      bootstrap: bootstrap({
        list: options.bootstrap ?? [],
        ...(options.bootstrapRetryInterval != null ? { retryInterval: options.bootstrapRetryInterval } : {}),
      }),
    },
  })

  if (options.start ?? true) await node.start()
  return node
}
