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

/** This host cannot do what the recording did (e.g. grow memory as far); the replica cannot follow. */
export class HostLimitError extends UnderstudyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_HOST_LIMIT', message, options)
  }
}

/** The policy family: manifests, policy documents, Cedar policies, user keys. */
export class PolicyError extends UnderstudyError {}

/** A workload manifest that carries no signature. */
export class ManifestUnsignedError extends PolicyError {
  constructor(message: string) {
    super('ERR_MANIFEST_UNSIGNED', message)
  }
}

/** A manifest whose signature does not verify: some field changed after the owner signed it. */
export class ManifestTamperedError extends PolicyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_MANIFEST_TAMPERED', message, options)
  }
}

/** A manifest signed by a key other than its owner's. */
export class ManifestNotOwnerError extends PolicyError {
  readonly signer: string
  readonly owner: string

  constructor(signer: string, owner: string) {
    super('ERR_MANIFEST_NOT_OWNER', `the manifest is signed by ${signer}, not by its owner ${owner}`)
    this.signer = signer
    this.owner = owner
  }
}

/** A manifest that is not well formed; `field` is the dotted path of the first bad field. */
export class ManifestInvalidError extends PolicyError {
  readonly field: string

  constructor(field: string, message: string, options?: ErrorOptions) {
    super('ERR_MANIFEST_INVALID', message, options)
    this.field = field
  }
}

/** A host policy document that is not well formed; `field` is the dotted path of the first bad field. */
export class PolicyInvalidError extends PolicyError {
  readonly field: string

  constructor(field: string, message: string, options?: ErrorOptions) {
    super('ERR_POLICY_INVALID', message, options)
    this.field = field
  }
}

/**
 * Admin-written Cedar that does not parse (ERR_CEDAR_SYNTAX) or does not fit the schema
 * (ERR_CEDAR_SCHEMA); line and column are 1-based, in the text the admin wrote.
 */
export class CedarPolicyError extends PolicyError {
  readonly line: number
  readonly column: number

  constructor(code: 'ERR_CEDAR_SYNTAX' | 'ERR_CEDAR_SCHEMA', line: number, column: number, message: string) {
    super(code, message)
    this.line = line
    this.column = column
  }
}

/** Cedar refused a request the policy layer built: a bug in the layer, never a decision. */
export class PolicyEvaluationError extends PolicyError {
  constructor(message: string) {
    super('ERR_POLICY_EVALUATION', message)
  }
}

/** A user key or user id that is not an Ed25519 libp2p key. */
export class UserKeyError extends PolicyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_USER_KEY', message, options)
  }
}

/** One invalid value in a config: its key path, what is wrong, and where it was set. */
export interface ConfigProblem {
  /** Key path such as `replication.heartbeatMs` or `listen[1]` ('' for the whole file). */
  readonly path: string
  readonly message: string
  /** Where the value came from: `line 12, column 18`, `UNDERSTUDY_LOG_LEVEL`, `overrides`, or `default`. */
  readonly source: string
}

/** A config that does not validate; the message lists every problem, `problems` holds them for programs. */
export class InvalidConfigError extends ConfigError {
  readonly file: string | undefined
  readonly problems: readonly ConfigProblem[]

  constructor(message: string, file: string | undefined, problems: readonly ConfigProblem[]) {
    super(message)
    this.file = file
    this.problems = problems
  }
}

/** A data directory written in a store format this build cannot read (newer, or unknown). */
export class StoreVersionError extends UnderstudyError {
  readonly found: number
  readonly supported: number

  constructor(message: string, found: number, supported: number) {
    super('ERR_STORE_VERSION', message)
    this.found = found
    this.supported = supported
  }
}

/** A data directory that is unsafe to use (another owner, world-writable) or cannot be created. */
export class DataDirError extends UnderstudyError {
  readonly path: string

  constructor(path: string, message: string, options?: ErrorOptions) {
    super('ERR_DATA_DIR', message, options)
    this.path = path
  }
}

/** A server (metrics, control API) could not listen on its address. */
export class ListenError extends UnderstudyError {
  readonly address: string

  constructor(address: string, message: string, options?: ErrorOptions) {
    super('ERR_LISTEN', message, options)
    this.address = address
  }
}

/**
 * The agent's store could not read or write (disk full, I/O error, closed, corrupt record). `op` names
 * what was being done; the level error is the `cause`. A failed write changed nothing: every write is
 * one atomic batch.
 */
export class StoreError extends UnderstudyError {
  readonly op: string
  readonly path: string

  constructor(op: string, path: string, message: string, options?: ErrorOptions) {
    super('ERR_STORE', message, options)
    this.op = op
    this.path = path
  }
}

/** A control API request that is malformed: bad JSON, a field that does not validate, a body too large. */
export class BadRequestError extends UnderstudyError {
  constructor(message: string, code: 'ERR_BAD_REQUEST' | 'ERR_BODY_TOO_LARGE' = 'ERR_BAD_REQUEST') {
    super(code, message)
  }
}

/** A control API request over TCP without the agent's bearer token, or with another one. */
export class UnauthorizedError extends UnderstudyError {
  constructor(message: string) {
    super('ERR_UNAUTHORIZED', message)
  }
}

/** An action that policy refuses to this caller; `reasons` are the deciding rules in words. */
export class ForbiddenError extends UnderstudyError {
  readonly reasons: readonly string[]

  constructor(message: string, reasons: readonly string[] = []) {
    super('ERR_FORBIDDEN', message)
    this.reasons = reasons
  }
}

/** A workload name this agent does not know. */
export class UnknownWorkloadError extends UnderstudyError {
  readonly workload: string

  constructor(workload: string) {
    super('ERR_UNKNOWN_WORKLOAD', `no workload named ${workload} is known to this agent (see understudy ps)`)
    this.workload = workload
  }
}

/** A request that clashes with the current state: a name already running, a failover already under way. */
export class ConflictError extends UnderstudyError {
  constructor(message: string) {
    super('ERR_CONFLICT', message)
  }
}

/** The local agent's control API does not answer (not running, wrong socket or port, timed out). */
export class AgentUnreachableError extends UnderstudyError {
  readonly address: string

  constructor(address: string, message: string, options?: ErrorOptions) {
    super('ERR_AGENT_UNREACHABLE', message, options)
    this.address = address
  }
}

/** The agent answered a control API request with an error; `code` is the agent's, `status` the HTTP one. */
export class ControlApiError extends UnderstudyError {
  readonly status: number
  /** Policy's reasons, when the agent refused (ERR_FORBIDDEN). */
  readonly reasons: readonly string[]

  constructor(status: number, code: string, message: string, reasons: readonly string[] = []) {
    super(code, message)
    this.status = status
    this.reasons = reasons
  }
}

/**
 * A blocked host call was abandoned because the machine paused there (for a
 * checkpoint): it records nothing and consumes no input; the guest makes the
 * same call again when it resumes.
 */
export class AbandonedCallError extends UnderstudyError {
  constructor(call: string) {
    super('ERR_CALL_ABANDONED', `${call} was abandoned by a pause; the guest will make it again`)
  }
}

/**
 * An entry was fed to a replaying replica out of order: a gap (an entry is
 * missing), a repeat, or a seq from elsewhere. Feed committed entries in seq order.
 */
export class FeedOrderError extends UnderstudyError {
  readonly seq: number
  readonly expected: number

  constructor(seq: number, expected: number) {
    super(
      'ERR_FEED_ORDER',
      `entry ${seq} was fed where entry ${expected} was expected (${seq > expected ? 'entries are missing' : 'a repeat or out of order'}): feed committed entries in seq order`,
    )
    this.seq = seq
    this.expected = expected
  }
}

/**
 * A replica cannot go live as asked: its epoch is older than its log's, it was
 * already told to go live, or more entries were fed after it was.
 */
export class PromotionError extends UnderstudyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_PROMOTION', message, options)
  }
}

/** A user key file that cannot be read, written or decoded; `path` is the file. */
export class UserKeyFileError extends PolicyError {
  readonly path: string

  constructor(path: string, message: string, options?: ErrorOptions) {
    super('ERR_USER_KEY_FILE', message, options)
    this.path = path
  }
}

/** A replica-group message that does not decode (damaged, hostile, or from a newer agent), or cannot be encoded. */
export class GroupWireError extends UnderstudyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_GROUP_WIRE', message, options)
  }
}

/**
 * A replica-group membership change that cannot be made now. `pending`: an earlier change (or this
 * primary's first entry of its epoch) is not committed yet, so retry once it is. `invalid`: the asked
 * list does not add or remove exactly one member, or would leave the group without a voter.
 */
export class MembershipChangeError extends UnderstudyError {
  readonly reason: 'pending' | 'invalid'

  constructor(reason: 'pending' | 'invalid', message: string) {
    super(reason === 'pending' ? 'ERR_MEMBERSHIP_PENDING' : 'ERR_MEMBERSHIP_INVALID', message)
    this.reason = reason
  }
}
