/**
 * `/understudy/log/1.0.0`: a long-lived stream from a sender (a primary) to each
 * receiver (a shadow) carrying ordered, epoch-stamped, opaque entries, with
 * heartbeats, acknowledgements of durably stored seqs, a credit window for end-to-end
 * backpressure, resumption after reconnects and epoch fencing.
 */
import type { ComponentLogger, PeerId } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import { LogStreamService } from './log-stream.ts'
import type { LogReceiver, LogReceiverInit } from './receiver.ts'
import type { LogSender, LogSenderInit } from './sender.ts'

export type { StreamEntry } from './codec.ts'
export type { SourceItem } from './entry-puller.ts'
export type { Awaitable, LogReceiver, LogReceiverInit } from './receiver.ts'
export type { LogSender, LogSenderInit, ResumeState } from './sender.ts'

export interface LogStream {
  /** The protocol id, `/${prefix}/log/1.0.0`. */
  readonly protocol: string
  /** Accepts streams for `logId` on this node; one receiver per log id. */
  receive(logId: string, init: LogReceiverInit): LogReceiver
  /** Starts streaming a log to `peer` (it keeps reconnecting until stopped or fenced). */
  send(peer: PeerId | Multiaddr, init: LogSenderInit): LogSender
}

/** Service-wide limits and defaults; a sender or receiver may narrow some of them. */
export interface LogStreamInit {
  /** Protocol prefix, default 'understudy'. */
  protocolPrefix?: string
  /** Largest frame accepted from a peer (default 4 MiB). */
  maxFrameBytes?: number
  /** Largest entry (default 1 MiB). */
  maxEntryBytes?: number
  /** Most entries in one batch frame (default 4096). */
  maxBatchEntries?: number
  /** A sender closes a batch at this many payload bytes (default 256 KiB). */
  maxBatchBytes?: number
  /** Unacknowledged payload a receiver grants, and a sender's cap on it (default 8 MiB / 65536 entries). */
  windowBytes?: number
  windowEntries?: number
  /** Default 1000 ms. */
  heartbeatInterval?: number
  /** Either end drops a peer silent for this long (default 5000 ms). */
  peerTimeout?: number
  /** Opening a stream and HELLO/WELCOME (default 10 s). */
  handshakeTimeout?: number
  reconnectMinDelay?: number
  reconnectMaxDelay?: number
  /** A receiver merges queued batches into one store call up to this many entries (default 8192). */
  maxStoreEntries?: number
  maxInboundStreams?: number
  maxOutboundStreams?: number
}

export interface LogStreamComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

export function logStream(init: LogStreamInit = {}): (components: LogStreamComponents) => LogStream {
  return (components) => new LogStreamService(components, init)
}
