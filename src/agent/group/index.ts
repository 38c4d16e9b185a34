/**
 * Replica groups: the primary/shadow protocol as a pure state machine (group.ts) with single-member
 * membership changes (membership.ts, membership-codec.ts), and the deterministic simulation and
 * history checker that test it.
 */

export { type ChaosOptions, DEFAULT_CHAOS, repairStep, runChaos } from './chaos.ts'
export { checkHistory, type HistoryEvent, type Property, type Violation } from './checker.ts'
export { type MemberInit, ReplicaGroupMember } from './group.ts'
export { hasMember, planChange, quorumOf } from './membership.ts'
export { decodeMembership, encodeMembership } from './membership-codec.ts'
export { MemoryStorage } from './memory-storage.ts'
export { createPrng, type Prng } from './prng.ts'
export {
  DEFAULT_SIM_CONFIG,
  fingerprint,
  type NetworkFaults,
  type Proposal,
  Simulation,
  type SimulationOptions,
} from './simulation.ts'
export type * from './types.ts'
