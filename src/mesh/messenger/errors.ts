/**
 * Typed errors of the messenger. Protocol errors (a frame that does not decode, is too
 * large or has a newer version) reuse the mesh's framing errors; the rest are here. A
 * refusal by the remote messenger crosses the wire as its code and comes back as the
 * same class with `remote` set; a failure of the remote *handler* comes back as a
 * RemoteError carrying the handler's own code.
 */
import { UnderstudyError } from '../../errors/index.ts'
import { logStreamErrorFromWire } from '../errors.ts'

type RemoteOption = ErrorOptions & { remote?: boolean }

/** Anything the messenger reports; `remote` is true when the other end detected it and told us. */
export class MessengerError extends UnderstudyError {
  readonly remote: boolean

  constructor(code: string, message: string, options?: RemoteOption) {
    super(code, message, options)
    this.remote = options?.remote ?? false
  }
}

/** The remote request handler failed; `remoteCode` and `remoteMessage` are what it threw. */
export class RemoteError extends MessengerError {
  readonly remoteCode: string
  readonly remoteMessage: string

  constructor(remoteCode: string, remoteMessage: string, context: string) {
    super('ERR_REMOTE', `${context}: ${remoteMessage} [${remoteCode}]`, { remote: true })
    this.remoteCode = remoteCode
    this.remoteMessage = remoteMessage
  }
}

/** The peer has no request handler for this topic (not this agent's version, or not started yet). */
export class UnknownTopicError extends MessengerError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_UNKNOWN_TOPIC', message, options)
  }
}

/** The peer's policy hook refused this topic to us. */
export class TopicForbiddenError extends MessengerError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_TOPIC_FORBIDDEN', message, options)
  }
}

/** No answer within the request's timeout; the stream was aborted and the remote handler told. */
export class RequestTimeoutError extends MessengerError {
  readonly timeoutMs: number

  constructor(message: string, timeoutMs: number) {
    super('ERR_REQUEST_TIMEOUT', message)
    this.timeoutMs = timeoutMs
  }
}

/** The caller aborted the request (its signal's reason is the cause). */
export class RequestAbortedError extends MessengerError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_REQUEST_ABORTED', message, options)
  }
}

/** This messenger (or, when remote, the peer's) stopped while the request was open. */
export class MessengerStoppedError extends MessengerError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_MESSENGER_STOPPED', message, options)
  }
}

/** The peer could not be dialed or refused to open a stream for the protocol. */
export class PeerUnreachableError extends MessengerError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_PEER_UNREACHABLE', message, options)
  }
}

/** A topic that is empty, longer than the limit, or not well-formed UTF-8 (a caller's mistake). */
export class InvalidTopicError extends MessengerError {
  constructor(message: string) {
    super('ERR_INVALID_TOPIC', message)
  }
}

const byCode: Record<string, new (message: string, options?: RemoteOption) => MessengerError> = {
  ERR_UNKNOWN_TOPIC: UnknownTopicError,
  ERR_TOPIC_FORBIDDEN: TopicForbiddenError,
  ERR_MESSENGER_STOPPED: MessengerStoppedError,
}

/** Codes of the mesh's shared framing errors, rebuilt as those classes. */
const FRAMING_CODES = new Set([
  'ERR_MALFORMED_FRAME',
  'ERR_FRAME_TOO_LARGE',
  'ERR_UNSUPPORTED_VERSION',
  'ERR_STREAM_CLOSED',
])

/** Rebuilds the typed error a remote messenger (not its handler) reported in an ERROR frame. */
export function messengerErrorFromWire(code: string, message: string): UnderstudyError {
  const ErrorClass = byCode[code]
  if (ErrorClass != null) return new ErrorClass(message, { remote: true })
  if (FRAMING_CODES.has(code)) return logStreamErrorFromWire(code, message)
  return new MessengerError(code, message, { remote: true })
}
