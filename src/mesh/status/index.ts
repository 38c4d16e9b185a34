/**
 * `/understudy/status/1.0.0`: request/response of what a peer offers, and capacity
 * advertisement through provider records in the private DHT, so an agent lists
 * candidate hosts within seconds.
 */
import type {
  AbortOptions,
  ComponentLogger,
  Libp2pEvents,
  PeerId,
  PeerStore,
  TypedEventTarget,
} from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerStatus } from './codec.ts'
import { StatusServiceImpl } from './status.ts'

export type { PeerStatus } from './codec.ts'
export { peerStatusSchema } from './codec.ts'
export { capacityKeys } from './status.ts'

export interface Candidate {
  peerId: PeerId
  status: PeerStatus
  /** Round trip of the status request, dial included. */
  rttMs: number
  /** Date.now() when the status arrived. */
  receivedAt: number
  /** How we found the peer: connected now, met before (peer store), or through the DHT (provider record or lookup). */
  via: 'connected' | 'known' | 'dht'
}

export interface ListCandidatesOptions extends AbortOptions {
  /** Stop looking and return what answered by then (default 5000 ms). Aborting `signal` rejects instead. */
  timeout?: number
  /** Parallel status requests (default 32). */
  concurrency?: number
  /** A found peer did not answer (typically a stale record of an agent that left). */
  onError?(peerId: PeerId, err: Error): void
}

export interface StatusService {
  readonly protocol: string
  /** When this agent's provider record last reached a peer (ms since epoch); 0 if never. */
  readonly advertisedAt: number
  /** Asks one peer what it offers (default timeout 3 s). */
  queryStatus(peer: PeerId | Multiaddr, options?: AbortOptions): Promise<PeerStatus>
  /** Puts this agent's provider record in the DHT now (default timeout 30 s); returns how many peers stored it. */
  advertise(options?: AbortOptions): Promise<number>
  /**
   * Live status of every agent that advertises capacity in the DHT or that we know speaks
   * the status protocol, self excluded, sorted by peer id. Peers that do not answer are
   * left out (and reported to `onError`).
   */
  listCandidates(options?: ListCandidatesOptions): Promise<Candidate[]>
}

export interface StatusInit {
  /** What this agent offers, asked at every request. Without it the node only queries others. */
  getStatus?(): PeerStatus | Promise<PeerStatus>
  /** Advertise capacity in the DHT (default: when getStatus is given). */
  advertise?: boolean
  protocolPrefix?: string
  /** Re-advertise period (default 10 min). */
  advertiseInterval?: number
  /** First retry after an advertisement reached nobody (default 1 s, doubling). */
  advertiseRetry?: number
  /** First re-advertisement after a success (default 10 s, doubling up to advertiseInterval). */
  advertiseSettle?: number
  /** Number of DHT keys agents spread their records over (default 8; every agent must agree). */
  capacityShards?: number
  /** One status request (default 3 s). */
  timeout?: number
  maxStatusBytes?: number
  maxInboundStreams?: number
  maxOutboundStreams?: number
}

export interface StatusComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  peerStore: PeerStore
  logger: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
  /** The private DHT service, when the node has one under the name `dht`. */
  dht?: KadDHT
}

export function status(init: StatusInit = {}): (components: StatusComponents) => StatusService {
  return (components) => new StatusServiceImpl(components, init)
}
