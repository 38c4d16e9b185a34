/**
 * The policy layer: who may host whose data, decided by Cedar with reasons. Pure: no
 * network, no disk, no clock; callers pass file contents, peers' status and the hour.
 */

export { loadAdminCedar } from './admin-cedar.ts'
export { canonicalJson } from './canonical-json.ts'
export type { CompiledPolicies, RuleInfo } from './compile.ts'
export { BASE_POLICIES, compileDataPolicy, compileHostPolicy } from './compile.ts'
export type {
  DataPolicy,
  DataPolicyInput,
  HostPolicy,
  HostPolicyInput,
  Manifest,
  ManifestInput,
  PeerSelector,
} from './documents.ts'
export {
  dataPolicySchema,
  hostPolicySchema,
  manifestSchema,
  parseHostPolicy,
  parseManifest,
} from './documents.ts'
export type { PolicyEngineOptions } from './engine.ts'
export { evaluate, PolicyEngine } from './engine.ts'
export type { Signed } from './keys.ts'
export {
  decodeUserKey,
  encodeUserKey,
  generateUserKey,
  isPeerId,
  isUserId,
  publicKeyOfUser,
  signValue,
  userIdOf,
  verifyValue,
} from './keys.ts'
export type { SignedManifest } from './manifest.ts'
export { MANIFEST_DOMAIN, signManifest, verifyManifest, workloadIdOf } from './manifest.ts'
export type {
  CandidateStatus,
  ConsideredPeer,
  PlacedReplica,
  Placement,
  PlacementRequest,
} from './placement.ts'
export { place } from './placement.ts'
export type { PolicyAction } from './schema.ts'
export { ACTIONS, CEDAR_SCHEMA, DATA_ACTIONS, NAMESPACE } from './schema.ts'
export type {
  Decision,
  DecisionRequest,
  HostLoad,
  PeerFacts,
  PeerWorkloadAction,
  RequestContext,
  UserFacts,
  WorkloadFacts,
} from './types.ts'
export { unknownPeer } from './types.ts'
export { shortId } from './wording.ts'
