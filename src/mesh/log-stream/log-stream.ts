/**
 * The log stream service: registers the protocol handler, routes inbound streams to
 * the receiver registered for their log id, and creates senders. Entries that do not
 * fit in the window a receiver grants cannot be sent (the sender stops with
 * ERR_SOURCE_FAILED), so windows must be at least one maximal entry.
 */
import type { Connection, PeerId, Startable, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { ConfigError } from '../../errors/index.ts'
import { MalformedFrameError, PeerTimeoutError, UnknownLogError } from '../errors.ts'
import type { CodecLimits } from './codec.ts'
import * as C from './constants.ts'
import { FrameChannel } from './frame-channel.ts'
import type { LogStream, LogStreamComponents, LogStreamInit } from './index.ts'
import {
  type LogReceiver,
  LogReceiverImpl,
  type LogReceiverInit,
  type ReceiverSession,
  type ReceiverSettings,
} from './receiver.ts'
import { type LogSender, LogSenderImpl, type LogSenderInit, type SenderSettings } from './sender.ts'

/** Bytes a BATCH needs besides payload: header fields, and per entry an epoch and a length. */
const BATCH_HEADER_BYTES = 2 + 4 * 8
const ENTRY_HEADER_BYTES = 8 + 5

export class LogStreamService implements LogStream, Startable {
  readonly protocol: string
  private readonly components: LogStreamComponents
  private readonly settings: SenderSettings &
    ReceiverSettings & { maxInboundStreams: number; maxOutboundStreams: number }
  private readonly limits: CodecLimits
  private readonly receivers = new Map<string, LogReceiverImpl>()
  private readonly senders = new Set<LogSenderImpl>()
  private started = false

  constructor(components: LogStreamComponents, init: LogStreamInit = {}) {
    this.components = components
    this.protocol = `/${init.protocolPrefix ?? C.PROTOCOL_PREFIX}/${C.PROTOCOL_NAME}/${C.PROTOCOL_VERSION}`
    this.settings = {
      protocol: this.protocol,
      maxFrameBytes: init.maxFrameBytes ?? C.MAX_FRAME_BYTES,
      maxEntryBytes: init.maxEntryBytes ?? C.MAX_ENTRY_BYTES,
      maxBatchEntries: init.maxBatchEntries ?? C.MAX_BATCH_ENTRIES,
      maxBatchBytes: init.maxBatchBytes ?? C.MAX_BATCH_BYTES,
      windowBytes: init.windowBytes ?? C.WINDOW_BYTES,
      windowEntries: init.windowEntries ?? C.WINDOW_ENTRIES,
      heartbeatInterval: init.heartbeatInterval ?? C.HEARTBEAT_INTERVAL,
      peerTimeout: init.peerTimeout ?? C.PEER_TIMEOUT,
      handshakeTimeout: init.handshakeTimeout ?? C.HANDSHAKE_TIMEOUT,
      reconnectMinDelay: init.reconnectMinDelay ?? C.RECONNECT_MIN_DELAY,
      reconnectMaxDelay: init.reconnectMaxDelay ?? C.RECONNECT_MAX_DELAY,
      maxStoreEntries: init.maxStoreEntries ?? C.MAX_STORE_ENTRIES,
      maxInboundStreams: init.maxInboundStreams ?? C.MAX_INBOUND_STREAMS,
      maxOutboundStreams: init.maxOutboundStreams ?? C.MAX_OUTBOUND_STREAMS,
    }
    checkSettings(this.settings)
    this.limits = {
      maxEntryBytes: this.settings.maxEntryBytes,
      maxBatchEntries: this.settings.maxBatchEntries,
    }
    this.handle = this.handle.bind(this)
  }

  readonly [Symbol.toStringTag] = 'understudy/log-stream'

  async start(): Promise<void> {
    await this.components.registrar.handle(this.protocol, this.handle, {
      maxInboundStreams: this.settings.maxInboundStreams,
      maxOutboundStreams: this.settings.maxOutboundStreams,
    })
    this.started = true
  }

  async stop(): Promise<void> {
    await this.components.registrar.unhandle(this.protocol)
    await Promise.all([...this.senders].map((sender) => sender.stop()))
    await Promise.all([...this.receivers.values()].map((receiver) => receiver.close()))
    this.started = false
  }

  isStarted(): boolean {
    return this.started
  }

  receive(logId: string, init: LogReceiverInit): LogReceiver {
    if (this.receivers.has(logId)) throw new ConfigError(`log ${logId} already has a receiver on this node`)
    const receiver = new LogReceiverImpl(logId, init, this.receiverSettings(init), () => {
      if (this.receivers.get(logId) === receiver) this.receivers.delete(logId)
    })
    this.receivers.set(logId, receiver)
    return receiver
  }

  send(peer: PeerId | Multiaddr, init: LogSenderInit): LogSender {
    const settings: SenderSettings = {
      ...this.settings,
      windowBytes: init.windowBytes ?? this.settings.windowBytes,
      windowEntries: init.windowEntries ?? this.settings.windowEntries,
      maxBatchBytes: init.maxBatchBytes ?? this.settings.maxBatchBytes,
      maxBatchEntries: Math.min(
        init.maxBatchEntries ?? this.settings.maxBatchEntries,
        this.settings.maxBatchEntries,
      ),
      maxEntryBytes: Math.min(init.maxEntryBytes ?? this.settings.maxEntryBytes, this.settings.maxEntryBytes),
      heartbeatInterval: init.heartbeatInterval ?? this.settings.heartbeatInterval,
      peerTimeout: init.peerTimeout ?? this.settings.peerTimeout,
      handshakeTimeout: init.handshakeTimeout ?? this.settings.handshakeTimeout,
      reconnectMinDelay: init.reconnectMinDelay ?? this.settings.reconnectMinDelay,
      reconnectMaxDelay: init.reconnectMaxDelay ?? this.settings.reconnectMaxDelay,
    }
    checkSettings(settings)
    const sender = new LogSenderImpl(peer, init, settings, this.components, () => this.senders.delete(sender))
    this.senders.add(sender)
    return sender
  }

  private receiverSettings(init: LogReceiverInit): ReceiverSettings {
    const settings = {
      windowBytes: init.windowBytes ?? this.settings.windowBytes,
      windowEntries: init.windowEntries ?? this.settings.windowEntries,
      peerTimeout: init.peerTimeout ?? this.settings.peerTimeout,
      maxStoreEntries: init.maxStoreEntries ?? this.settings.maxStoreEntries,
    }
    if (!(settings.windowBytes > 0 && settings.windowEntries > 0 && settings.peerTimeout > 0)) {
      throw new ConfigError('a receiver needs a window and a peer timeout > 0')
    }
    return settings
  }

  /** An inbound stream: the first frame must be a HELLO naming a log registered here. */
  private handle(stream: Stream, connection: Connection): void {
    const log = stream.log.newScope('understudy-log')
    let attached: { receiver: LogReceiverImpl; session: ReceiverSession } | undefined
    const helloTimer = setTimeout(() => {
      channel.fail(new PeerTimeoutError(`no HELLO within ${this.settings.handshakeTimeout} ms`))
    }, this.settings.handshakeTimeout)
    helloTimer.unref()
    const channel: FrameChannel = new FrameChannel(stream, {
      maxFrameBytes: this.settings.maxFrameBytes,
      limits: this.limits,
      log,
      onFrame: (frame) => {
        if (attached !== undefined) {
          attached.receiver.onFrame(attached.session, frame)
          return
        }
        if (frame.type !== 'hello')
          throw new MalformedFrameError(`expected HELLO, got ${frame.type.toUpperCase()}`)
        clearTimeout(helloTimer)
        const receiver = this.receivers.get(frame.logId)
        if (receiver === undefined)
          throw new UnknownLogError(`no receiver for log ${frame.logId} on this node`)
        attached = { receiver, session: receiver.attach(channel, connection, frame, log) }
      },
      onEnd: (err) => {
        clearTimeout(helloTimer)
        if (attached !== undefined) attached.receiver.onChannelEnd(attached.session, err)
        else
          log(
            'inbound log stream from %p ended before HELLO - %s: %s',
            connection.remotePeer,
            err.code,
            err.message,
          )
      },
    })
  }
}

function checkSettings(s: SenderSettings): void {
  const positive = [
    'maxFrameBytes',
    'maxEntryBytes',
    'maxBatchEntries',
    'maxBatchBytes',
    'windowBytes',
    'windowEntries',
    'heartbeatInterval',
    'peerTimeout',
    'handshakeTimeout',
  ] as const
  for (const key of positive) {
    if (!(s[key] > 0)) throw new ConfigError(`log stream setting ${key} must be > 0, got ${s[key]}`)
  }
  if (s.maxEntryBytes + BATCH_HEADER_BYTES + ENTRY_HEADER_BYTES > s.maxFrameBytes) {
    throw new ConfigError(
      `maxEntryBytes (${s.maxEntryBytes}) does not fit in maxFrameBytes (${s.maxFrameBytes})`,
    )
  }
  if (s.maxBatchBytes + BATCH_HEADER_BYTES + s.maxBatchEntries * ENTRY_HEADER_BYTES > s.maxFrameBytes) {
    throw new ConfigError(`a full batch (maxBatchBytes, maxBatchEntries) does not fit in maxFrameBytes`)
  }
  if (s.peerTimeout <= s.heartbeatInterval) {
    throw new ConfigError('peerTimeout must be longer than heartbeatInterval')
  }
}
