/**
 * The agent config's `hostPolicy` (what an admin edits, config/README.md) as the policy
 * layer's host policy document, and the engine built from it. The config speaks in
 * allow lists with "*" and several hour windows; the policy document says the same in
 * its own terms, so every decision quotes rules the admin recognises.
 */
import type { HostPolicy, HostPolicyInput } from '../../policy/index.ts'
import { PolicyEngine, parseHostPolicy } from '../../policy/index.ts'
import type { HostPolicyConfig } from '../config/index.ts'

/** What the config file does not hold but a host policy may: set by the agent from other files. */
export interface HostPolicyExtras {
  /** Admin-written Cedar (the text of the file), validated against the schema at load. */
  adminCedar?: string | undefined
  /** Users who may control any workload on this host, besides each workload's owner. */
  admins?: readonly string[] | undefined
  /** Peers refused at connection time. */
  blockPeers?: readonly string[] | undefined
}

/**
 * Translates the config's host policy. "*" in either allow list admits every owner (an org
 * directory is rarely complete, so "every org" reads as "anyone"); both lists empty admits
 * no one (`acceptsWorkloads: false`), as config/README.md promises. Throws PolicyInvalidError
 * or CedarPolicyError (via the engine) naming what to fix.
 */
export function hostPolicyFromConfig(config: HostPolicyConfig, extras: HostPolicyExtras = {}): HostPolicy {
  const users = config.allowUsers.filter((user) => user !== '*')
  const orgs = config.allowOrgs.filter((org) => org !== '*')
  const anyone = config.allowUsers.includes('*') || config.allowOrgs.includes('*')
  const input: HostPolicyInput = {
    caps: {
      maxWorkloads: config.caps.maxWorkloads,
      maxMemoryMiB: config.caps.maxMemoryMiB,
      maxDiskMiB: config.caps.maxDiskMiB,
      cpuShare: config.caps.cpuShare,
    },
    schedule: { idleOnly: config.schedule.idleOnly },
    witness: config.allowWitness,
  }
  if (!anyone && (users.length > 0 || orgs.length > 0)) {
    input.allow = {
      ...(users.length > 0 ? { users } : {}),
      ...(orgs.length > 0 ? { orgs } : {}),
    }
  }
  if (!anyone && users.length === 0 && orgs.length === 0) input.acceptsWorkloads = false
  // A window covering the whole day means no restriction; the policy document has no 0-24 window.
  const windows = config.schedule.hours.map(({ from, to }) => ({ from, to }))
  if (windows.length > 0 && !windows.some(({ from, to }) => from === to % 24)) {
    input.schedule = { ...input.schedule, hours: windows }
  }
  if (extras.adminCedar != null) input.cedar = extras.adminCedar
  if (extras.admins != null && extras.admins.length > 0) input.admins = [...extras.admins]
  if (extras.blockPeers != null && extras.blockPeers.length > 0) input.blockPeers = [...extras.blockPeers]
  return parseHostPolicy(input)
}

/** The engine of the agent whose peer id is `peerId`, with its config's host policy. */
export function hostEngine(
  peerId: string,
  config: HostPolicyConfig,
  extras: HostPolicyExtras = {},
): PolicyEngine {
  return new PolicyEngine({ host: { peerId, policy: hostPolicyFromConfig(config, extras) } })
}
