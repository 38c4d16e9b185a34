/**
 * The agent's local control API: HTTP + JSON with a server-sent event stream, on a Unix socket
 * (0600) or loopback TCP with a bearer token. The server calls ControlHandlers (the agent plugs in);
 * the CLI and the TUI use only ControlClient. Wire types: api-types.ts.
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
export { type Backlog, EventHub, type EventHubInit, type EventListener } from './event-hub.ts'
export type { Caller, ControlHandlers, RequestContext } from './handlers.ts'
export { isLoopbackHost } from './listen-address.ts'
export { ControlServer, type ControlServerInit } from './server.ts'
