/**
 * The status service: answers `/understudy/status/1.0.0` with what this agent offers,
 * advertises that it offers capacity (a provider record in the private DHT under a
 * well-known key), and lists candidate hosts by looking those records up and asking
 * each provider, and each connected peer, for its live status.
 */
import type {
  AbortOptions,
  Connection,
  IdentifyResult,
  Logger,
  PeerId,
  Startable,
  Stream,
} from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import PQueue from 'p-queue'
import { ConfigError } from '../../errors/index.ts'
import { LogStreamError, StatusError } from '../errors.ts'
import { encodeUtf8, readFirstFrame } from '../framing.ts'
import { sleep } from '../race-abort.ts'
import { decodeStatus, encodeStatus, type PeerStatus } from './codec.ts'
import * as C from './constants.ts'
import type {
  Candidate,
  ListCandidatesOptions,
  StatusComponents,
  StatusInit,
  StatusService,
} from './index.ts'

/** Multicodec `raw`: the capacity keys name no content, only a rendezvous point. */
const RAW_CODEC = 0x55

export class StatusServiceImpl implements StatusService, Startable {
  readonly protocol: string
  private readonly components: StatusComponents
  private readonly init: StatusInit
  private readonly log: Logger
  private readonly shards: number
  private readonly timeout: number
  private readonly maxStatusBytes: number
  private keys: CID[] = []
  private controller: AbortController | undefined
  private advertising: Promise<void> | undefined
  private lastAdvertised = 0

  constructor(components: StatusComponents, init: StatusInit = {}) {
    this.components = components
    this.init = init
    this.protocol = `/${init.protocolPrefix ?? C.PROTOCOL_PREFIX}/${C.PROTOCOL_NAME}/${C.PROTOCOL_VERSION}`
    this.log = components.logger.forComponent('understudy:mesh:status')
    this.shards = init.capacityShards ?? C.CAPACITY_SHARDS
    this.timeout = init.timeout ?? C.TIMEOUT
    this.maxStatusBytes = init.maxStatusBytes ?? C.MAX_STATUS_BYTES
    if (!(Number.isInteger(this.shards) && this.shards >= 1 && this.shards <= 256)) {
      throw new ConfigError('capacityShards must be an integer in 1..256')
    }
    this.handle = this.handle.bind(this)
  }

  readonly [Symbol.toStringTag] = 'understudy/status'

  /** Whether this agent offers capacity (it answers status requests and advertises). */
  get offers(): boolean {
    return this.init.getStatus != null
  }

  /** When this agent's provider record last reached at least one peer (ms since epoch); 0 never. */
  get advertisedAt(): number {
    return this.lastAdvertised
  }

  isStarted(): boolean {
    return this.controller !== undefined
  }

  async start(): Promise<void> {
    this.keys = await capacityKeys(this.init.protocolPrefix ?? C.PROTOCOL_PREFIX, this.shards)
    if (this.offers) {
      await this.components.registrar.handle(this.protocol, this.handle, {
        maxInboundStreams: this.init.maxInboundStreams ?? C.MAX_INBOUND_STREAMS,
        maxOutboundStreams: this.init.maxOutboundStreams ?? C.MAX_OUTBOUND_STREAMS,
      })
    }
    this.controller = new AbortController()
  }

  afterStart(): void {
    const controller = this.controller
    if (controller !== undefined && this.offers && (this.init.advertise ?? true)) {
      this.advertising = this.advertiseLoop(controller.signal)
    }
  }

  async stop(): Promise<void> {
    this.controller?.abort(new StatusError('the status service stopped'))
    this.controller = undefined
    await this.advertising
    this.advertising = undefined
    if (this.offers) await this.components.registrar.unhandle(this.protocol)
  }

  async queryStatus(peer: PeerId | Multiaddr, options: AbortOptions = {}): Promise<PeerStatus> {
    const signal = withTimeout(options.signal, this.timeout)
    let stream: Stream
    try {
      stream = await this.components.connectionManager.openStream(peer, this.protocol, { signal })
    } catch (err) {
      throw new StatusError(`cannot open a status stream to ${String(peer)}: ${(err as Error).message}`, {
        cause: err,
      })
    }
    try {
      return decodeStatus(await readOneFrame(stream, this.maxStatusBytes, signal))
    } catch (err) {
      stream.abort(err as Error)
      if (err instanceof StatusError) throw err
      throw new StatusError(`status request to ${String(peer)} failed: ${(err as Error).message}`, {
        cause: err,
      })
    } finally {
      if (stream.status === 'open')
        await stream.close({ signal }).catch((err: unknown) => stream.abort(err as Error))
    }
  }

  async advertise(options: AbortOptions = {}): Promise<number> {
    const dht = this.components.dht
    if (dht == null) throw new ConfigError('advertising capacity needs the DHT service (named "dht")')
    const key = this.keys[shardOf(this.components.peerId, this.shards)]
    if (key === undefined) throw new StatusError('the status service is not started')
    let reached = 0
    for await (const event of dht.provide(key, {
      signal: withTimeout(options.signal, C.ADVERTISE_TIMEOUT),
    })) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') reached++
    }
    if (reached > 0) this.lastAdvertised = Date.now()
    this.log('advertised capacity under %s to %d peers', key, reached)
    return reached
  }

  async listCandidates(options: ListCandidatesOptions = {}): Promise<Candidate[]> {
    const deadline = AbortSignal.timeout(options.timeout ?? C.LIST_TIMEOUT)
    const signal = options.signal == null ? deadline : AbortSignal.any([options.signal, deadline])
    const self = this.components.peerId.toString()
    const seen = new Set<string>([self])
    const candidates: Candidate[] = []
    const queue = new PQueue({ concurrency: Math.max(1, options.concurrency ?? C.LIST_CONCURRENCY) })

    const ask = (peerId: PeerId, via: Candidate['via']): void => {
      const key = peerId.toString()
      if (seen.has(key)) return
      seen.add(key)
      void queue.add(async () => {
        const started = performance.now()
        try {
          const status = await this.queryStatus(peerId, { signal })
          candidates.push({ peerId, status, rttMs: performance.now() - started, receivedAt: Date.now(), via })
        } catch (err) {
          // Stale provider records of agents that left are normal: report, do not fail the listing.
          this.log('no status from %p - %e', peerId, err)
          options.onError?.(peerId, err as Error)
        }
      })
    }

    // Every peer of the private DHT is an agent: the lookups below connect us to many, and
    // identify tells which speak status. Ask those too, not only the providers found.
    const onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
      if (evt.detail.protocols.includes(this.protocol)) ask(evt.detail.peerId, 'dht')
    }
    this.components.events.addEventListener('peer:identify', onIdentify)
    try {
      // Peers we know speak the protocol (connected now, or met before), then the DHT's providers.
      await this.askKnown(ask)
      await Promise.all(
        this.keys.map((key) => this.findProviders(key, signal, (peerId) => ask(peerId, 'dht'))),
      )
      await queue.onIdle()
    } finally {
      this.components.events.removeEventListener('peer:identify', onIdentify)
    }
    // The caller's own abort is an error; running out of our default time is just the end of the listing.
    options.signal?.throwIfAborted()
    const key = (c: Candidate): string => c.peerId.toString()
    return candidates.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
  }

  private async askKnown(ask: (peerId: PeerId, via: Candidate['via']) => void): Promise<void> {
    const known = await this.components.peerStore.all({
      filters: [(peer) => peer.protocols.includes(this.protocol)],
    })
    const connected = new Set(
      this.components.connectionManager.getConnections().map((c) => c.remotePeer.toString()),
    )
    for (const peer of known) ask(peer.id, connected.has(peer.id.toString()) ? 'connected' : 'known')
  }

  private async findProviders(key: CID, signal: AbortSignal, found: (peerId: PeerId) => void): Promise<void> {
    const dht = this.components.dht
    if (dht == null) return
    try {
      for await (const event of dht.findProviders(key, { signal })) {
        if (event.name !== 'PROVIDER') continue
        for (const provider of event.providers) {
          if (provider.multiaddrs.length > 0) {
            await this.components.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs })
          }
          found(provider.id)
        }
      }
    } catch (err) {
      if (signal.aborted) return
      this.log('provider lookup for %s failed - %e', key, err)
      throw new StatusError(`looking up capacity providers failed: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * Advertises at once, then again at doubling intervals up to `advertiseInterval`: while
   * the mesh is forming, the peers closest to our key change, and early records would
   * sit on too few of them.
   */
  private async advertiseLoop(signal: AbortSignal): Promise<void> {
    const interval = this.init.advertiseInterval ?? C.ADVERTISE_INTERVAL
    const first = this.init.advertiseRetry ?? C.ADVERTISE_RETRY
    let retry = first
    let settle = this.init.advertiseSettle ?? C.ADVERTISE_SETTLE
    while (!signal.aborted) {
      let wait: number
      try {
        const reached = await this.advertise({ signal })
        if (reached === 0) {
          wait = retry
          retry = Math.min(retry * 2, interval)
        } else {
          retry = first
          wait = settle
          settle = Math.min(settle * 2, interval)
        }
      } catch (err) {
        if (signal.aborted) return
        this.log.error('advertising capacity failed - %e', err)
        wait = retry
        retry = Math.min(retry * 2, interval)
      }
      try {
        await sleep(wait, signal)
      } catch {
        return
      }
    }
  }

  /** Inbound request: answer with our status and close. */
  private async handle(stream: Stream, connection: Connection): Promise<void> {
    const log = stream.log.newScope('understudy-status')
    const signal = AbortSignal.timeout(this.timeout)
    try {
      const getStatus = this.init.getStatus
      if (getStatus == null) throw new StatusError('this agent offers no status')
      const frame = encodeStatus(await getStatus())
      if (!stream.send(frame)) await stream.onDrain({ signal })
      await stream.close({ signal })
      log.trace('sent status to %p', connection.remotePeer)
    } catch (err) {
      log.error('status request from %p failed - %e', connection.remotePeer, err)
      stream.abort(err as Error)
    }
  }
}

/** The DHT keys agents advertise under: sha256 of `/<prefix>/<namespace>/<shard>`. */
export async function capacityKeys(prefix: string, shards: number): Promise<CID[]> {
  const keys: CID[] = []
  for (let shard = 0; shard < shards; shard++) {
    const digest = await sha256.digest(encodeUtf8(`/${prefix}/${C.CAPACITY_NAMESPACE}/${shard}`))
    keys.push(CID.createV1(RAW_CODEC, digest))
  }
  return keys
}

function shardOf(peerId: PeerId, shards: number): number {
  const bytes = peerId.toMultihash().bytes
  return (bytes[bytes.length - 1] ?? 0) % shards
}

function withTimeout(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(ms)
  return signal == null ? timeout : AbortSignal.any([signal, timeout])
}

/** Reads exactly one frame, then expects the peer to end the stream. */
function readOneFrame(stream: Stream, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
  return readFirstFrame(stream, {
    maxFrameBytes: maxBytes,
    signal,
    accept: (frames, reader) => {
      if (frames.length > 1 || reader.buffered > 0)
        throw new StatusError('status response has trailing bytes')
      return frames[0]!
    },
    failed: (err) =>
      err instanceof LogStreamError ? new StatusError(err.message, { cause: err }) : (err as Error),
    closed: () => new StatusError('the peer closed the status stream without a response'),
    aborted: (reason) =>
      new StatusError(`no status response: ${String((reason as Error | undefined)?.message ?? reason)}`),
    noticeEarlyClose: true,
  })
}
