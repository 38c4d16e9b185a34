/**
 * The messenger service: registers the protocol handler, keeps one Outbox per peer for
 * one-way messages, routes inbound streams to InboundSessions, and runs requests.
 */
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import { ConfigError, type UnderstudyError } from '../../errors/index.ts'
import { FrameTooLargeError } from '../errors.ts'
import { encodeTopicFrame, topicBytes, topicFrameBodyLength } from './codec.ts'
import * as C from './constants.ts'
import { MessengerStoppedError, RequestAbortedError, RequestTimeoutError } from './errors.ts'
import { InboundSession } from './inbound.ts'
import type {
  MessageHandler,
  Messenger,
  MessengerComponents,
  MessengerInit,
  MessengerStats,
  Refusal,
  RequestHandler,
  RequestOptions,
} from './index.ts'
import { Outbox, type OutboxSettings } from './outbox.ts'
import { performRequest } from './requester.ts'

interface Settings extends OutboxSettings {
  maxFrameBytes: number
  maxInboundPendingBytes: number
  requestTimeout: number
  maxInboundStreams: number
  maxOutboundStreams: number
}

export class MessengerService implements Messenger, Startable {
  readonly protocol: string
  private readonly components: MessengerComponents
  private readonly init: MessengerInit
  private readonly settings: Settings
  private readonly log: Logger
  private readonly messageHandlers = new Map<string, MessageHandler>()
  private readonly requestHandlers = new Map<string, RequestHandler>()
  private readonly outboxes = new Map<string, Outbox>()
  private readonly sessions = new Set<InboundSession>()
  private readonly requests = new Set<AbortController>()
  private started = false
  private registered = false
  private counters = {
    sent: 0,
    dropped: 0,
    received: 0,
    unhandled: 0,
    refused: 0,
    inboundDropped: 0,
    protocolErrors: 0,
  }
  private readonly router

  constructor(components: MessengerComponents, init: MessengerInit = {}) {
    this.components = components
    this.init = init
    this.protocol = `/${init.protocolPrefix ?? C.PROTOCOL_PREFIX}/${C.PROTOCOL_NAME}/${C.PROTOCOL_VERSION}`
    this.settings = {
      protocol: this.protocol,
      maxFrameBytes: init.maxFrameBytes ?? C.MAX_FRAME_BYTES,
      maxQueueBytes: init.maxQueueBytes ?? C.MAX_QUEUE_BYTES,
      maxInboundPendingBytes: init.maxInboundPendingBytes ?? C.MAX_INBOUND_PENDING_BYTES,
      requestTimeout: init.requestTimeout ?? C.REQUEST_TIMEOUT,
      openTimeout: init.openTimeout ?? C.OPEN_TIMEOUT,
      reconnectMinDelay: init.reconnectMinDelay ?? C.RECONNECT_MIN_DELAY,
      reconnectMaxDelay: init.reconnectMaxDelay ?? C.RECONNECT_MAX_DELAY,
      maxInboundStreams: init.maxInboundStreams ?? C.MAX_INBOUND_STREAMS,
      maxOutboundStreams: init.maxOutboundStreams ?? C.MAX_OUTBOUND_STREAMS,
    }
    for (const [key, value] of Object.entries(this.settings)) {
      if (typeof value === 'number' && !(value > 0)) {
        throw new ConfigError(`messenger setting ${key} must be > 0, got ${value}`)
      }
    }
    if (this.settings.reconnectMaxDelay < this.settings.reconnectMinDelay) {
      throw new ConfigError('messenger reconnectMaxDelay must be at least reconnectMinDelay')
    }
    this.log = components.logger.forComponent('understudy:mesh:messenger')
    this.router = this.makeRouter()
    this.handleStream = this.handleStream.bind(this)
  }

  readonly [Symbol.toStringTag] = 'understudy/messenger'

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.components.registrar.handle(this.protocol, this.handleStream, {
      maxInboundStreams: this.settings.maxInboundStreams,
      maxOutboundStreams: this.settings.maxOutboundStreams,
    })
    this.registered = true
    this.started = true
  }

  /** libp2p stops its components in parallel: say goodbye on our streams while the connections are still up. */
  async beforeStop(): Promise<void> {
    await this.shutdown()
  }

  async stop(): Promise<void> {
    await this.shutdown()
    if (this.registered) {
      this.registered = false
      await this.components.registrar.unhandle(this.protocol)
    }
  }

  private async shutdown(): Promise<void> {
    if (!this.started) return
    this.started = false
    const stopped = new MessengerStoppedError('the messenger stopped')
    for (const controller of this.requests) controller.abort(stopped)
    this.requests.clear()
    const closing = [...this.sessions].map((session) => session.stop())
    this.sessions.clear()
    const outboxes = [...this.outboxes.values()]
    this.outboxes.clear()
    for (const outbox of outboxes) closing.push(outbox.stop())
    await Promise.all(closing)
  }

  handle(topic: string, handler: MessageHandler): () => void {
    return register(this.messageHandlers, topic, handler, 'message')
  }

  handleRequest(topic: string, handler: RequestHandler): () => void {
    return register(this.requestHandlers, topic, handler, 'request')
  }

  send(peer: PeerId, topic: string, payload: Uint8Array): boolean {
    const topicB = topicBytes(topic)
    this.checkSize(topicB, payload, 'message')
    if (!this.started || peer.equals(this.components.peerId)) {
      this.counters.dropped++
      return false
    }
    const key = peer.toString()
    let outbox = this.outboxes.get(key)
    if (outbox === undefined) {
      outbox = new Outbox(peer, this.settings, this.components.connectionManager, this.log, (idle) => {
        if (this.outboxes.get(key) === idle) this.retire(key, idle)
      })
      this.outboxes.set(key, outbox)
    }
    return outbox.enqueue(encodeTopicFrame('message', topicB, payload))
  }

  async request(
    peer: PeerId,
    topic: string,
    payload: Uint8Array,
    options: RequestOptions = {},
  ): Promise<Uint8Array> {
    const topicB = topicBytes(topic)
    this.checkSize(topicB, payload, 'request')
    if (!this.started) throw new MessengerStoppedError('the messenger is stopped')
    const timeoutMs = options.timeoutMs ?? this.settings.requestTimeout
    const callerSignal = options.signal
    if (callerSignal?.aborted) throw aborted(topic, peer, callerSignal.reason)
    const controller = new AbortController()
    const timer = setTimeout(() => {
      controller.abort(
        new RequestTimeoutError(`no answer to ${topic} from ${peer} within ${timeoutMs} ms`, timeoutMs),
      )
    }, timeoutMs)
    timer.unref()
    const onCallerAbort = (): void => {
      controller.abort(aborted(topic, peer, callerSignal?.reason))
    }
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true })
    this.requests.add(controller)
    try {
      return await performRequest({
        connectionManager: this.components.connectionManager,
        protocol: this.protocol,
        peer,
        topic,
        frame: encodeTopicFrame('request', topicB, payload),
        maxFrameBytes: this.settings.maxFrameBytes,
        signal: controller.signal,
      })
    } finally {
      clearTimeout(timer)
      callerSignal?.removeEventListener('abort', onCallerAbort)
      this.requests.delete(controller)
    }
  }

  stats(): MessengerStats {
    const peers = [...this.outboxes.values()].map((o) => ({
      peer: o.peer,
      queuedBytes: o.queuedBytes,
      queuedMessages: o.queuedMessages,
      connected: o.connected,
      sent: o.sent,
      dropped: o.dropped,
    }))
    let sent = this.counters.sent
    let dropped = this.counters.dropped
    let queuedBytes = 0
    let queuedMessages = 0
    for (const p of peers) {
      sent += p.sent
      dropped += p.dropped
      queuedBytes += p.queuedBytes
      queuedMessages += p.queuedMessages
    }
    return { ...this.counters, sent, dropped, queuedBytes, queuedMessages, peers }
  }

  /** Folds a retired outbox's counters into the totals before forgetting it. */
  private retire(key: string, outbox: Outbox): void {
    this.outboxes.delete(key)
    this.counters.sent += outbox.sent
    this.counters.dropped += outbox.dropped
  }

  private checkSize(topic: Uint8Array, payload: Uint8Array, what: string): void {
    if (!(payload instanceof Uint8Array)) throw new TypeError(`a ${what} payload must be a Uint8Array`)
    const size = topicFrameBodyLength(topic, payload.byteLength)
    if (size > this.settings.maxFrameBytes) {
      throw new FrameTooLargeError(
        `a ${what} of ${payload.byteLength} bytes exceeds the maximum frame of ${this.settings.maxFrameBytes} bytes`,
      )
    }
  }

  private handleStream(stream: Stream, connection: Connection): void {
    if (!this.started) {
      stream.abort(new MessengerStoppedError('the messenger is stopped'))
      return
    }
    const log = stream.log.newScope('understudy-msg')
    this.sessions.add(new InboundSession(stream, connection.remotePeer, this.router, log))
  }

  private makeRouter() {
    const counters = this.counters
    const init = this.init
    const log = this.log
    const sessions = this.sessions
    return {
      maxFrameBytes: this.settings.maxFrameBytes,
      maxInboundPendingBytes: this.settings.maxInboundPendingBytes,
      responseFlushTimeout: this.settings.requestTimeout,
      selfName: this.components.peerId.toString(),
      messageHandler: (topic: string) => this.messageHandlers.get(topic),
      requestHandler: (topic: string) => this.requestHandlers.get(topic),
      authorize: (from: PeerId, topic: string) => init.authorize?.(from, topic) ?? true,
      refused: (from: PeerId, topic: string, refusal: Refusal) => {
        counters.refused++
        log('refused %s %s from %p: %s', refusal.kind, topic, from, refusal.reason)
        callSafely(log, 'onRefused', () => init.onRefused?.(from, topic, refusal))
      },
      protocolError: (from: PeerId, err: UnderstudyError) => {
        counters.protocolErrors++
        callSafely(log, 'onProtocolError', () => init.onProtocolError?.(from, err))
      },
      delivered: () => {
        counters.received++
      },
      unhandled: () => {
        counters.unhandled++
      },
      inboundDropped: () => {
        counters.inboundDropped++
      },
      ended: (session: InboundSession) => {
        sessions.delete(session)
      },
    }
  }
}

function aborted(topic: string, peer: PeerId, reason: unknown): RequestAbortedError {
  const why = reason instanceof Error ? reason.message : String(reason)
  return new RequestAbortedError(`request ${topic} to ${peer} aborted by the caller: ${why}`, {
    cause: reason,
  })
}

function register<H>(map: Map<string, H>, topic: string, handler: H, kind: string): () => void {
  topicBytes(topic)
  if (map.has(topic)) throw new ConfigError(`topic ${topic} already has a ${kind} handler on this node`)
  map.set(topic, handler)
  return () => {
    if (map.get(topic) === handler) map.delete(topic)
  }
}

/** The owner's callbacks must not break the protocol: a throw is logged, never propagated. */
function callSafely(log: Logger, name: string, fn: () => void): void {
  try {
    fn()
  } catch (err) {
    log.error('%s threw - %e', name, err)
  }
}
