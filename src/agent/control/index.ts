/**
 * The agent's side of its local control API: the server, which calls ControlHandlers (the agent
 * plugs in), and the event hub. The contract itself (wire types, client) is src/control, re-exported
 * here for the agent's own modules.
 */

export * from '../../control/api-types.ts'
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
} from '../../control/client.ts'
export { type Backlog, EventHub, type EventHubInit, type EventListener } from './event-hub.ts'
export type { Caller, ControlHandlers, RequestContext } from './handlers.ts'
export { isLoopbackHost } from './listen-address.ts'
export { ControlServer, type ControlServerInit } from './server.ts'
