/**
 * The TUI's only door into the agent: its control API client and wire types. Everything else in
 * src/tui imports from here, so the TUI cannot grow a dependency on the agent's internals.
 */
export type {
  AgentStatus,
  ControlAddress,
  ControlEvent,
  Explanation,
  PeerInfo,
  ReplicaInfo,
  WorkloadDetail,
  WorkloadSummary,
} from '../control/index.ts'
export { ControlClient } from '../control/index.ts'
