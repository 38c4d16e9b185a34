/**
 * The mesh: libp2p agents that find each other and stream ordered, epoch-stamped
 * entries. It knows nothing about VMs: entries are opaque bytes.
 */
export type { BootstrapDialer, BootstrapInit } from './bootstrap.ts'
export type { MeshNode, MeshNodeOptions, MeshServices } from './create-node.ts'
export { createMeshNode, DEFAULT_PROTOCOL_PREFIX } from './create-node.ts'
export {
  FrameTooLargeError,
  IdentityError,
  LogStreamError,
  MalformedFrameError,
  NotAuthorizedError,
  OutOfOrderError,
  PeerTimeoutError,
  ResumeRefusedError,
  SourceFailedError,
  StaleEpochError,
  StatusError,
  StoreFailedError,
  StreamClosedError,
  SupersededError,
  UnknownLogError,
  UnsupportedVersionError,
  WindowExceededError,
} from './errors.ts'
export type { Identity, LoadIdentityOptions } from './identity.ts'
export { KEY_FILE_NAME, loadOrCreateIdentity } from './identity.ts'
export type {
  LogReceiver,
  LogReceiverInit,
  LogSender,
  LogSenderInit,
  LogStream,
  LogStreamInit,
  ResumeState,
  SourceItem,
  StreamEntry,
} from './log-stream/index.ts'
export { logStream } from './log-stream/index.ts'
export type {
  MessageHandler,
  Messenger,
  MessengerInit,
  MessengerStats,
  PeerMessageStats,
  Refusal,
  RequestHandler,
  RequestOptions,
} from './messenger/index.ts'
export {
  InvalidTopicError,
  MessengerError,
  MessengerStoppedError,
  messenger,
  PeerUnreachableError,
  RemoteError,
  RequestAbortedError,
  RequestTimeoutError,
  TopicForbiddenError,
  UnknownTopicError,
} from './messenger/index.ts'
export type {
  Candidate,
  ListCandidatesOptions,
  PeerStatus,
  StatusInit,
  StatusService,
} from './status/index.ts'
export { capacityKeys, peerStatusSchema, status } from './status/index.ts'
