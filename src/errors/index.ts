/**
 * Typed errors shared by every layer. Each carries a stable `code` that a
 * user (or a test) can match on, and a message that says what to do.
 */
export class UnderstudyError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** A WebAssembly module that cannot run deterministically, or cannot run at all. */
export class InvalidModuleError extends UnderstudyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_MODULE', message, options)
  }
}

/** A log file or frame that does not decode, or whose hash chain is broken. */
export class CorruptLogError extends UnderstudyError {
  readonly seq: number | undefined

  constructor(message: string, seq?: number, options?: ErrorOptions) {
    super('ERR_CORRUPT_LOG', message, options)
    this.seq = seq
  }
}

/** Replay asked for something the recording did not do. */
export class DivergenceError extends UnderstudyError {
  readonly seq: number
  readonly expected: string
  readonly got: string

  constructor(seq: number, expected: string, got: string) {
    super('ERR_DIVERGENCE', `replay diverged at entry ${seq}: expected ${expected}, got ${got}`)
    this.seq = seq
    this.expected = expected
    this.got = got
  }
}

/** A checkpoint file that cannot be restored here (corrupt, other module, other tool version). */
export class CheckpointError extends UnderstudyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_CHECKPOINT', message, options)
  }
}

/** A configuration or policy file that does not validate. */
export class ConfigError extends UnderstudyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_CONFIG', message, options)
  }
}

/** Bad command-line usage. */
export class UsageError extends UnderstudyError {
  constructor(message: string) {
    super('ERR_USAGE', message)
  }
}

/** Replay reached the end of the log while the guest still asked for something. */
export class LogEndedError extends UnderstudyError {
  readonly seq: number
  readonly asked: string

  constructor(seq: number, asked: string) {
    super('ERR_LOG_ENDED', `the log ended before entry ${seq}, but the guest asked for ${asked}`)
    this.seq = seq
    this.asked = asked
  }
}

/** A guest toolchain (clang + wasi-libc, rustc's wasm32-wasi std, asc) is not installed. */
export class ToolchainMissingError extends UnderstudyError {
  readonly language: string

  constructor(language: string, message: string) {
    super('ERR_TOOLCHAIN_MISSING', message)
    this.language = language
  }
}

/** A guest program did not compile. */
export class GuestBuildError extends UnderstudyError {
  readonly guest: string

  constructor(guest: string, message: string, options?: ErrorOptions) {
    super('ERR_GUEST_BUILD', message, options)
    this.guest = guest
  }
}

/** A replica-group operation that only the primary may perform was asked of another member. */
export class NotPrimaryError extends UnderstudyError {
  /** The primary this member knows of, if any, so the caller can retry there. */
  readonly leader: string | undefined

  constructor(message: string, leader?: string) {
    super('ERR_NOT_PRIMARY', message)
    this.leader = leader
  }
}

/** A replica-group member was driven against its contract, or its state broke a protocol invariant. */
export class GroupStateError extends UnderstudyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_GROUP_STATE', message, options)
  }
}
