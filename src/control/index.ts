/**
 * The control API's contract: the wire types (api-types.ts) and the client (client.ts) that the
 * CLI and the TUI use to talk to an agent — HTTP + JSON with a server-sent event stream, on a Unix
 * socket (0600) or loopback TCP with a bearer token. The agent's server (src/agent/control) serves
 * it; nothing here knows the agent's internals.
 */

export * from './api-types.ts'
export {
  type CallOptions,
  ControlClient,
  type ControlClientOptions,
  type EventStreamItem,
  type EventsOptions,
  type FollowLogsOptions,
  type LogStreamItem,
  logChunkBytes,
  type RetryOptions,
  type StreamOptions,
  type StreamState,
} from './client.ts'
