/**
 * One inbound stream. Its first frame decides what it is: MESSAGE frames make it a
 * peer's long-lived message stream (each message is authorized and dispatched in
 * order), a REQUEST makes it one request (authorized, answered, closed). A frame that
 * does not decode or does not belong ends the stream with an ERROR frame and a
 * protocol error report; nothing here throws into libp2p.
 */
import type { Logger, PeerId, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { UnderstudyError } from '../../errors/index.ts'
import { FrameTooLargeError, MalformedFrameError, StreamClosedError } from '../errors.ts'
import { FrameReader } from '../framing.ts'
import { endStream, refuseStream } from './closing.ts'
import {
  decodeFrame,
  type ErrorSource,
  encodeError,
  encodeResponse,
  type MessageFrame,
  type RequestFrame,
} from './codec.ts'
import { CLOSE_GRACE } from './constants.ts'
import { MessengerStoppedError, TopicForbiddenError, UnknownTopicError } from './errors.ts'
import type { MessageHandler, Refusal, RequestHandler } from './index.ts'

/** What a session needs from the messenger that owns it. */
export interface InboundRouter {
  readonly maxFrameBytes: number
  readonly maxInboundPendingBytes: number
  /** How long the answer to a request may take to flush before the stream is reset. */
  readonly responseFlushTimeout: number
  /** This node's peer id, for messages the requester reads. */
  readonly selfName: string
  messageHandler(topic: string): MessageHandler | undefined
  requestHandler(topic: string): RequestHandler | undefined
  authorize(from: PeerId, topic: string): boolean | Promise<boolean>
  refused(from: PeerId, topic: string, refusal: Refusal): void
  protocolError(from: PeerId, err: UnderstudyError): void
  delivered(): void
  unhandled(): void
  inboundDropped(): void
  ended(session: InboundSession): void
}

type Mode = 'new' | 'messages' | 'request' | 'ended'

export class InboundSession {
  readonly peer: PeerId
  private readonly stream: Stream
  private readonly router: InboundRouter
  private readonly log: Logger
  private readonly reader: FrameReader
  private mode: Mode = 'new'
  /** Messages waiting behind an async authorize, so order is kept. */
  private pending: MessageFrame[] = []
  private pendingBytes = 0
  private draining = false
  /** Aborted when the requester goes away or the messenger stops: the handler's signal. */
  private readonly handlerController = new AbortController()
  private answered = false

  constructor(stream: Stream, peer: PeerId, router: InboundRouter, log: Logger) {
    this.stream = stream
    this.peer = peer
    this.router = router
    this.log = log
    this.reader = new FrameReader(router.maxFrameBytes)
    this.onMessage = this.onMessage.bind(this)
    this.onClose = this.onClose.bind(this)
    this.onRemoteCloseWrite = this.onRemoteCloseWrite.bind(this)
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('close', this.onClose)
    stream.addEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
  }

  /** A getter, not an inline test: handlers may end the session, which narrowing does not see. */
  get ended(): boolean {
    return this.mode === 'ended'
  }

  /** The messenger stops: a request still being served is told so, a message stream is closed. */
  stop(): Promise<void> {
    if (this.mode === 'request' && !this.answered) {
      const err = new MessengerStoppedError('the peer is shutting down')
      this.handlerController.abort(err)
      return this.finish('messenger', err)
    }
    this.end()
    return endStream(this.stream, CLOSE_GRACE)
  }

  private onMessage(evt: { data: Uint8Array | Uint8ArrayList }): void {
    if (this.mode === 'ended') return
    try {
      for (const body of this.reader.push(evt.data)) {
        const frame = decodeFrame(body)
        if (this.mode === 'new' && frame.type === 'message') this.mode = 'messages'
        if (this.mode === 'messages' && frame.type === 'message') {
          this.deliver(frame)
        } else if (this.mode === 'new' && frame.type === 'request') {
          this.mode = 'request'
          void this.serve(frame)
        } else {
          const where = this.mode === 'request' ? 'after a REQUEST' : `on a ${this.mode} stream`
          throw new MalformedFrameError(`unexpected ${frame.type.toUpperCase()} frame ${where}`)
        }
        if (this.ended) return
      }
    } catch (err) {
      this.fail(asProtocolError(err))
    }
  }

  private onClose(): void {
    if (this.mode === 'request' && !this.answered) {
      this.handlerController.abort(new StreamClosedError('the requester closed the stream', { remote: true }))
    }
    this.end()
  }

  /** A sender closing its message stream is leaving; a requester may half-close after its REQUEST. */
  private onRemoteCloseWrite(): void {
    if (this.mode === 'request') return
    this.end()
    void endStream(this.stream, CLOSE_GRACE)
  }

  /** A bad frame: tell the peer why, close, report. */
  private fail(err: UnderstudyError): void {
    if (this.mode === 'ended') return
    this.log.error('closing a stream from %p: %s %s', this.peer, err.code, err.message)
    this.handlerController.abort(err)
    this.answered = true
    this.send(encodeError('messenger', err.code, err.message))
    this.end()
    void refuseStream(this.stream, err)
    this.router.protocolError(this.peer, err)
  }

  private end(): void {
    if (this.mode === 'ended') return
    this.mode = 'ended'
    this.pending = []
    this.pendingBytes = 0
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('close', this.onClose)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
    this.router.ended(this)
  }

  private deliver(frame: MessageFrame): void {
    if (this.draining) {
      const size = frame.payload.byteLength
      if (this.pendingBytes + size > this.router.maxInboundPendingBytes) {
        this.router.inboundDropped()
        return
      }
      this.pending.push(frame)
      this.pendingBytes += size
      return
    }
    const verdict = this.verdict(frame.topic)
    if (typeof verdict === 'boolean' || verdict instanceof Error) {
      this.dispatch(frame, verdict)
      return
    }
    this.draining = true
    void this.drain(frame, verdict)
  }

  /** Dispatches in arrival order while some authorize decisions are asynchronous. */
  private async drain(first: MessageFrame, firstVerdict: Promise<boolean | Error>): Promise<void> {
    let frame: MessageFrame | undefined = first
    let verdict: boolean | Error | Promise<boolean | Error> = firstVerdict
    while (frame !== undefined) {
      const decided = await verdict
      if (this.mode === 'ended') return
      this.dispatch(frame, decided)
      frame = this.pending.shift()
      if (frame !== undefined) {
        this.pendingBytes -= frame.payload.byteLength
        verdict = this.verdict(frame.topic)
      }
    }
    this.draining = false
  }

  /** The authorize hook's answer; a throw or rejection becomes an Error (a refusal). */
  private verdict(topic: string): boolean | Error | Promise<boolean | Error> {
    try {
      const answer = this.router.authorize(this.peer, topic)
      if (typeof answer === 'boolean') return answer
      return Promise.resolve(answer).then(
        (allowed) => allowed === true,
        (err: unknown) => toError(err),
      )
    } catch (err) {
      return toError(err)
    }
  }

  private dispatch(frame: MessageFrame, verdict: boolean | Error): void {
    if (verdict !== true) {
      this.router.refused(this.peer, frame.topic, refusal('message', verdict))
      return
    }
    const handler = this.router.messageHandler(frame.topic)
    if (handler === undefined) {
      this.log.trace('no handler for topic %s from %p', frame.topic, this.peer)
      this.router.unhandled()
      return
    }
    this.router.delivered()
    try {
      const result: unknown = handler(this.peer, frame.payload)
      // A handler typed `void` may still be async: its failure must not become an unhandled rejection.
      if (result instanceof Promise) {
        result.catch((err: unknown) => this.log.error('handler for %s failed - %e', frame.topic, err))
      }
    } catch (err) {
      this.log.error('handler for %s failed - %e', frame.topic, err)
    }
  }

  private async serve(frame: RequestFrame): Promise<void> {
    const topic = frame.topic
    const decided = await this.verdict(topic)
    if (this.mode === 'ended') return
    if (decided !== true) {
      this.router.refused(this.peer, topic, refusal('request', decided))
      this.finish('messenger', new TopicForbiddenError(`peer ${this.router.selfName} refused topic ${topic}`))
      return
    }
    const handler = this.router.requestHandler(topic)
    if (handler === undefined) {
      this.finish(
        'messenger',
        new UnknownTopicError(`peer ${this.router.selfName} has no handler for ${topic}`),
      )
      return
    }
    let answer: Uint8Array
    try {
      answer = await handler(this.peer, frame.payload, this.handlerController.signal)
    } catch (err) {
      if (this.answered) return
      if (err instanceof UnderstudyError) {
        this.finish('handler', err)
      } else {
        this.log.error('request handler for %s failed - %e', topic, err)
        this.finish('handler', new UnderstudyError('ERR_INTERNAL', `the handler for ${topic} failed`))
      }
      return
    }
    if (this.answered) return
    if (!(answer instanceof Uint8Array)) {
      this.log.error('request handler for %s returned %s, not bytes', topic, typeof answer)
      this.finish(
        'handler',
        new UnderstudyError('ERR_INTERNAL', `the handler for ${topic} returned no bytes`),
      )
      return
    }
    if (2 + answer.byteLength > this.router.maxFrameBytes) {
      const err = new FrameTooLargeError(
        `the answer to ${topic} (${answer.byteLength} bytes) exceeds the maximum frame of ${this.router.maxFrameBytes}`,
      )
      this.finish('messenger', err)
      return
    }
    this.answer(encodeResponse(answer))
  }

  /** Answers a request with an ERROR frame. */
  private finish(source: ErrorSource, err: UnderstudyError): Promise<void> {
    return this.answer(encodeError(source, err.code, err.message))
  }

  /** Sends the one answer and ends the stream; resolves once it is flushed. */
  private answer(frame: Uint8Array): Promise<void> {
    if (this.answered) return Promise.resolve()
    this.answered = true
    this.send(frame)
    this.end()
    return endStream(this.stream, this.router.responseFlushTimeout)
  }

  private send(frame: Uint8Array): void {
    if (this.stream.status !== 'open' || this.stream.writeStatus !== 'writable') return
    try {
      this.stream.send(frame)
    } catch (err) {
      this.log('could not send to %p - %e', this.peer, err)
    }
  }
}

function refusal(kind: Refusal['kind'], verdict: boolean | Error): Refusal {
  if (verdict instanceof Error) {
    return { kind, reason: `the authorize hook failed: ${verdict.message}`, error: verdict }
  }
  return { kind, reason: 'the authorize hook refused it' }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

function asProtocolError(err: unknown): UnderstudyError {
  if (err instanceof UnderstudyError) return err
  return new MalformedFrameError(`internal error: ${toError(err).message}`, { cause: err })
}
