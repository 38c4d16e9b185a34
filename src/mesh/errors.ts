/**
 * Typed errors of the mesh. Log-stream errors cross the wire as their `code` in an
 * ERROR frame, so a sender learns why a receiver closed the stream; `remote` tells
 * which end detected the problem.
 */
import { UnderstudyError } from '../errors/index.ts'

/** The agent's key file cannot be read, parsed or trusted. */
export class IdentityError extends UnderstudyError {
  readonly path: string

  constructor(path: string, message: string, options?: ErrorOptions) {
    super('ERR_IDENTITY', message, options)
    this.path = path
  }
}

/** Anything that ends a log stream. Subclasses fix the code; the base carries unknown remote codes. */
export class LogStreamError extends UnderstudyError {
  /** True when the other end detected the problem and told us with an ERROR frame. */
  readonly remote: boolean

  constructor(code: string, message: string, options?: ErrorOptions & { remote?: boolean }) {
    super(code, message, options)
    this.remote = options?.remote ?? false
  }
}

type RemoteOption = ErrorOptions & { remote?: boolean }

/** A frame that does not decode, or that is not allowed in the current state of the stream. */
export class MalformedFrameError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_MALFORMED_FRAME', message, options)
  }
}

/** A frame or entry larger than the configured maximum. */
export class FrameTooLargeError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_FRAME_TOO_LARGE', message, options)
  }
}

/** A batch that does not start at the next expected seq, or an ack that goes backwards. */
export class OutOfOrderError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_OUT_OF_ORDER', message, options)
  }
}

/** A frame with a wire version this agent does not speak. */
export class UnsupportedVersionError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_UNSUPPORTED_VERSION', message, options)
  }
}

/** The sender had more unacknowledged bytes or entries in flight than the receiver granted. */
export class WindowExceededError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_WINDOW_EXCEEDED', message, options)
  }
}

/** Fencing: the sender's epoch is older than the newest epoch the receiver has seen. */
export class StaleEpochError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_STALE_EPOCH', message, options)
  }
}

/** The receiver has no log with the requested id. */
export class UnknownLogError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_UNKNOWN_LOG', message, options)
  }
}

/** The receiver's policy hook refused this sender. */
export class NotAuthorizedError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_NOT_AUTHORIZED', message, options)
  }
}

/** The other end said nothing for longer than the configured timeout. */
export class PeerTimeoutError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_PEER_TIMEOUT', message, options)
  }
}

/** A newer stream for the same log replaced this one (the sender reconnected). */
export class SupersededError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_SUPERSEDED', message, options)
  }
}

/** The receiver's `store` failed, so it cannot acknowledge. */
export class StoreFailedError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_STORE_FAILED', message, options)
  }
}

/** The stream or its connection ended before the protocol did. */
export class StreamClosedError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_STREAM_CLOSED', message, options)
  }
}

/** The sender's entry source (the owner's `readFrom`) failed or yielded an invalid entry. */
export class SourceFailedError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_SOURCE_FAILED', message, options)
  }
}

/** The sender's owner refused to resume at the point the receiver announced (see `checkResume`). */
export class ResumeRefusedError extends LogStreamError {
  constructor(message: string, options?: RemoteOption) {
    super('ERR_RESUME_REFUSED', message, options)
  }
}

/** A status request that failed or returned something that does not validate. */
export class StatusError extends UnderstudyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_STATUS', message, options)
  }
}

const byCode: Record<string, new (message: string, options?: RemoteOption) => LogStreamError> = {
  ERR_MALFORMED_FRAME: MalformedFrameError,
  ERR_FRAME_TOO_LARGE: FrameTooLargeError,
  ERR_OUT_OF_ORDER: OutOfOrderError,
  ERR_UNSUPPORTED_VERSION: UnsupportedVersionError,
  ERR_WINDOW_EXCEEDED: WindowExceededError,
  ERR_STALE_EPOCH: StaleEpochError,
  ERR_UNKNOWN_LOG: UnknownLogError,
  ERR_NOT_AUTHORIZED: NotAuthorizedError,
  ERR_PEER_TIMEOUT: PeerTimeoutError,
  ERR_SUPERSEDED: SupersededError,
  ERR_STORE_FAILED: StoreFailedError,
  ERR_STREAM_CLOSED: StreamClosedError,
  ERR_SOURCE_FAILED: SourceFailedError,
  ERR_RESUME_REFUSED: ResumeRefusedError,
}

/** Rebuilds the typed error the other end reported in an ERROR frame. */
export function logStreamErrorFromWire(code: string, message: string): LogStreamError {
  const ErrorClass = byCode[code]
  if (ErrorClass != null) return new ErrorClass(message, { remote: true })
  return new LogStreamError(code, message, { remote: true })
}
