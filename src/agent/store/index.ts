/**
 * The agent's durable store on level (LevelDB): per-workload replica-group state (hard state, log,
 * checkpoints, applied seq), workload manifests and the audit log, in one database per agent.
 * Key layout: keys.ts. Every write that the group protocol depends on is one atomic, fsynced batch.
 */

export { AgentStore, type FormatRecord, STORE_FORMAT_VERSION, type StoreOptions } from './agent-store.ts'
export { type AuditEntry, AuditLog, type AuditReadOptions, type AuditRecord } from './audit-log.ts'
export { CHECKPOINT_CHUNK_BYTES, GroupStorage, type LoadedGroup, type ReadyStorage } from './group-storage.ts'
export type { LevelDb } from './level-handle.ts'
export { type ManifestMeta, ManifestStore, type StoredManifest } from './manifest-store.ts'
