/**
 * `/understudy/msg/1.0.0`: topic-addressed messages between agents. One-way messages
 * are best effort, ordered per peer while a connection lasts, and bounded in memory
 * (a full queue drops, it never blocks); requests get one answer or a typed error on a
 * fresh stream each. Payloads are opaque bytes: the mesh knows nothing of what they mean.
 */
import type { AbortOptions, ComponentLogger, PeerId } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { UnderstudyError } from '../../errors/index.ts'
import { MessengerService } from './messenger.ts'

export {
  InvalidTopicError,
  MessengerError,
  MessengerStoppedError,
  PeerUnreachableError,
  RemoteError,
  RequestAbortedError,
  RequestTimeoutError,
  TopicForbiddenError,
  UnknownTopicError,
} from './errors.ts'

/** A one-way message; called synchronously in arrival order. */
export type MessageHandler = (from: PeerId, payload: Uint8Array) => void

/**
 * Answers a request. Throw an UnderstudyError to send its code and message back (the
 * requester gets a RemoteError); anything else is reported as ERR_INTERNAL without
 * details. `signal` aborts when the requester gives up or the messenger stops.
 */
export type RequestHandler = (from: PeerId, payload: Uint8Array, signal: AbortSignal) => Promise<Uint8Array>

/** Why a message or request was refused, for the policy layer's audit. */
export interface Refusal {
  kind: 'message' | 'request'
  reason: string
  /** Set when the authorize hook threw or rejected (that is a refusal too). */
  error?: Error
}

export interface RequestOptions extends AbortOptions {
  /** Whole request, dial included (default: the messenger's requestTimeout, 30 s). */
  timeoutMs?: number
}

export interface PeerMessageStats {
  peer: PeerId
  queuedBytes: number
  queuedMessages: number
  /** Whether the long-lived message stream is open now. */
  connected: boolean
  sent: number
  dropped: number
}

export interface MessengerStats {
  /** One-way messages handed to a stream. */
  sent: number
  /** One-way messages refused by `send` (queue full, stopped, self). */
  dropped: number
  /** Inbound messages given to a handler. */
  received: number
  /** Inbound messages for a topic nobody handles here. */
  unhandled: number
  /** Inbound messages and requests the authorize hook refused. */
  refused: number
  /** Inbound messages dropped because too many waited for an async authorize. */
  inboundDropped: number
  /** Inbound streams closed for a malformed or oversize frame. */
  protocolErrors: number
  queuedBytes: number
  queuedMessages: number
  /** Peers with queued messages or an open message stream. */
  peers: PeerMessageStats[]
}

export interface Messenger {
  /** The protocol id, `/${prefix}/msg/1.0.0`. */
  readonly protocol: string
  /** Handles one-way messages on `topic` (one handler per topic); returns the unregister function. */
  handle(topic: string, handler: MessageHandler): () => void
  /**
   * Queues a one-way message to `peer` and returns at once: true when queued, false when
   * dropped (the peer's queue is full, the messenger is stopped, or `peer` is this node).
   * Throws InvalidTopicError or FrameTooLargeError for a message that could never be sent.
   */
  send(peer: PeerId, topic: string, payload: Uint8Array): boolean
  /** Handles requests on `topic` (one handler per topic); returns the unregister function. */
  handleRequest(topic: string, handler: RequestHandler): () => void
  /**
   * Sends one request on a fresh stream (dialing if needed) and resolves with the answer.
   * Rejects with RemoteError (the handler's own error), UnknownTopicError,
   * TopicForbiddenError, RequestTimeoutError, RequestAbortedError, MessengerStoppedError,
   * PeerUnreachableError, or a framing error (MalformedFrameError, FrameTooLargeError).
   */
  request(peer: PeerId, topic: string, payload: Uint8Array, options?: RequestOptions): Promise<Uint8Array>
  stats(): MessengerStats
  /** Closes every stream, rejects open requests, drops queued messages. The node calls it when it stops. */
  stop(): Promise<void>
}

export interface MessengerInit {
  /** Protocol prefix, default 'understudy'. */
  protocolPrefix?: string
  /** Largest frame accepted or sent (default 16 MiB). */
  maxFrameBytes?: number
  /** Bytes of one-way messages queued per peer before new ones are dropped (default 8 MiB). */
  maxQueueBytes?: number
  /** Bytes of inbound messages held per stream while an async authorize decides (default 8 MiB). */
  maxInboundPendingBytes?: number
  /** Default timeout of `request` (default 30 s). */
  requestTimeout?: number
  /** Opening a peer's message stream, dial included (default 10 s). */
  openTimeout?: number
  /** Backoff between attempts to (re)open a message stream (default 100 ms doubling to 5 s). */
  reconnectMinDelay?: number
  reconnectMaxDelay?: number
  maxInboundStreams?: number
  maxOutboundStreams?: number
  /** Policy hook, asked for every inbound message and request. A throw or rejection refuses. Default: allow. */
  authorize?(from: PeerId, topic: string): boolean | Promise<boolean>
  /** A message or request the authorize hook refused (for the audit log). */
  onRefused?(from: PeerId, topic: string, refusal: Refusal): void
  /** An inbound stream was closed because the peer sent a malformed or oversize frame. */
  onProtocolError?(from: PeerId, err: UnderstudyError): void
}

export interface MessengerComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

export function messenger(init: MessengerInit = {}): (components: MessengerComponents) => Messenger {
  return (components) => new MessengerService(components, init)
}
