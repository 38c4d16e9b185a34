/** The fault lab: sites in network namespaces, a delay proxy, partitions, a nemesis and a checker. */
export type { LabPlan, SitePlan } from './addressing.ts'
export type {
  BadRead,
  CheckInput,
  ClientOp,
  DivergenceReport,
  EpochServed,
  FaultAvailability,
  FaultRecord,
  LostWrite,
  OpResult,
  PrimaryChange,
  Report,
  StoreProgress,
  StoreSummary,
} from './checker.ts'
export { check, exitCode, formatTable } from './checker.ts'
export { labSupport, systemTool } from './commands.ts'
export type { LinkSettings } from './delay-line.ts'
export { linkProfile, NO_DELAY } from './delay-line.ts'
export type {
  ExecutedStep,
  FaultKind,
  FaultStep,
  NemesisActions,
  RecoveryKind,
  RunOptions,
  Schedule,
  ScheduleOptions,
  StepKind,
} from './nemesis.ts'
export {
  describeStep,
  faultRecords,
  formatSchedule,
  generateSchedule,
  networkActions,
  PRIMARY,
  runSchedule,
  seedFrom,
} from './nemesis.ts'
export type { Lab, LabOptions } from './netns.ts'
export { cleanupStale, createLab } from './netns.ts'
export type { Cut } from './nft-rules.ts'
export type { Accepted, ConnectResult, Probe } from './probe-client.ts'
