/**
 * The agent's side of policy: its admin's user key (workloads started here without a manifest are
 * signed with it), the PolicyGate built from the host policy in the config, the peer facts the gate
 * judges by (from the mesh's status answers), and a cache of member decisions so that the hot path
 * (every group message) asks the gate once per peer and minute, not once per message.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import type { ControlEventBody } from '../control/api-types.ts'
import { ForbiddenError, ManifestInvalidError } from '../errors/index.ts'
import type { Candidate } from '../mesh/index.ts'
import {
  decodeUserKey,
  encodeUserKey,
  generateUserKey,
  type Manifest,
  type PeerFacts,
  type SignedManifest,
  signManifest,
  userIdOf,
  type WorkloadFacts,
} from '../policy/index.ts'
import type { AgentConfig } from './config/index.ts'
import { hostEngine, PolicyGate } from './policy-gate.ts'
import type { AuditLog } from './store/index.ts'

/** How long a member decision is trusted before the gate is asked again. */
const MEMBER_ALLOW_TTL_MS = 60_000
/** A refusal is asked again soon: it may come from facts not known yet (a peer whose status is still unread). */
const MEMBER_DENY_TTL_MS = 2_000

export interface AgentPolicyInit {
  config: AgentConfig
  peerId: string
  audit: AuditLog
  events: { publish(body: ControlEventBody): unknown }
  hostedCount: () => number
  /** The machine's owner is away (hosts with an idle-only schedule take workloads only then). */
  ownerIdle?: () => boolean
}

export class AgentPolicy {
  readonly gate: PolicyGate
  readonly adminUserId: string
  readonly #adminKey: PrivateKey
  readonly #init: AgentPolicyInit
  readonly #peers = new Map<string, PeerFacts>()
  readonly #memberDecisions = new Map<string, { allow: boolean; at: number }>()
  readonly #pending = new Set<string>()

  private constructor(init: AgentPolicyInit, adminKey: PrivateKey) {
    this.#init = init
    this.#adminKey = adminKey
    this.adminUserId = userIdOf(adminKey)
    this.gate = new PolicyGate({
      engine: hostEngine(init.peerId, init.config.hostPolicy),
      audit: init.audit,
      events: init.events,
      self: () => this.self(),
      peerFacts: (id) => this.#peers.get(id),
    })
  }

  static async open(init: AgentPolicyInit): Promise<AgentPolicy> {
    return new AgentPolicy(init, await loadOrCreateAdminKey(join(init.config.dataDir, 'admin.key')))
  }

  self(): PeerFacts {
    const c = this.#init.config
    return {
      id: this.#init.peerId,
      org: c.org ?? '',
      site: c.site,
      labels: { ...c.labels },
      idle: this.#init.ownerIdle?.() ?? true,
      load: {
        hostedWorkloads: this.#init.hostedCount(),
        committedMemoryMiB: 0,
        committedDiskMiB: 0,
        workloadCpuPercent: 0,
      },
    }
  }

  /** Whether a peer's status has been read (policy judges unknown peers by the strictest rules). */
  knows(peerId: string): boolean {
    return this.#peers.has(peerId)
  }

  /** What peers told us in their status answers: what the gate judges them by. */
  learn(candidates: readonly Candidate[]): void {
    for (const c of candidates) {
      this.#peers.set(c.peerId.toString(), {
        id: c.peerId.toString(),
        org: c.status.org,
        site: c.status.site,
        labels: c.status.labels,
        idle: c.status.ownerIdle,
        load: {
          hostedWorkloads: c.status.workloads.length,
          committedMemoryMiB: 0,
          committedDiskMiB: 0,
          workloadCpuPercent: 0,
        },
      })
    }
  }

  /**
   * The signed manifest of a new workload: the one its owner sent (checked against what is asked),
   * or, without one, a manifest this host's admin signs (any peer, one replica per site).
   */
  async manifestFor(
    request: { name: string; replicas: number; manifest?: string | undefined },
    imageHash: string,
  ): Promise<{ signed: SignedManifest; manifest: Manifest }> {
    if (request.manifest !== undefined) {
      let parsed: unknown
      try {
        parsed = JSON.parse(Buffer.from(request.manifest, 'base64').toString('utf8'))
      } catch (err) {
        throw new ManifestInvalidError('(root)', `the manifest is not JSON: ${(err as Error).message}`)
      }
      const manifest = await this.gate.verifyIncomingManifest(parsed)
      checkMatches(manifest, request.name, imageHash, request.replicas)
      return { signed: parsed as SignedManifest, manifest }
    }
    const signed = await signManifest(
      {
        name: request.name,
        image: { sha256: imageHash },
        replicas: request.replicas,
        owner: this.adminUserId,
        dataPolicy: { minSites: request.replicas },
        createdAt: new Date().toISOString(),
      },
      this.#adminKey,
    )
    return { signed, manifest: signed.manifest }
  }

  /** A host asked to hold a replica: the manifest must verify, match the spec and pass the host policy. */
  async admitReplica(
    signed: unknown,
    spec: { name: string; imageHash: string; replicasWanted: number },
    from: string,
  ): Promise<Manifest> {
    const manifest = await this.gate.verifyIncomingManifest(signed, from)
    checkMatches(manifest, spec.name, spec.imageHash, spec.replicasWanted)
    const decision = await this.gate.mayHostReplica(manifest, from)
    if (decision.decision === 'deny') {
      throw new ForbiddenError(`this host may not hold a replica of ${spec.name}`, decision.reasons)
    }
    return manifest
  }

  /**
   * May group data go between us and `peer` (direction from our side)? Answers from the cache;
   * on a miss it asks the gate in the background and answers undefined (the caller drops the
   * message: the group protocol resends).
   */
  memberAllowed(
    workload: string,
    facts: WorkloadFacts,
    peer: string,
    direction: 'send' | 'receive',
  ): boolean | undefined {
    const key = `${workload}\u0000${peer}\u0000${direction}`
    const known = this.#memberDecisions.get(key)
    const now = Date.now()
    if (known && now - known.at < (known.allow ? MEMBER_ALLOW_TTL_MS : MEMBER_DENY_TTL_MS)) return known.allow
    if (!this.#pending.has(key)) {
      this.#pending.add(key)
      const asked =
        direction === 'send'
          ? this.gate.maySendEntries(facts, peer)
          : this.gate.mayReceiveEntries(facts, peer, facts.epoch ?? 0)
      asked.then(
        (d) => this.#memberDecisions.set(key, { allow: d.decision === 'allow', at: Date.now() }),
        () => this.#memberDecisions.set(key, { allow: false, at: Date.now() }),
      )
      void asked.finally(() => this.#pending.delete(key))
    }
    return known?.allow
  }
}

function checkMatches(manifest: Manifest, name: string, imageHash: string, replicas: number): void {
  const problems: string[] = []
  if (manifest.name !== name) problems.push(`it names workload ${manifest.name}, not ${name}`)
  if (manifest.image.sha256 !== imageHash)
    problems.push(`it is for module ${manifest.image.sha256.slice(0, 12)}…, not ${imageHash.slice(0, 12)}…`)
  if (manifest.replicas !== replicas)
    problems.push(`it asks for ${manifest.replicas} replicas, not ${replicas}`)
  if (problems.length > 0)
    throw new ManifestInvalidError(
      '(root)',
      `the manifest does not match the request: ${problems.join('; ')}`,
    )
}

async function loadOrCreateAdminKey(path: string): Promise<PrivateKey> {
  try {
    return decodeUserKey(new Uint8Array(await readFile(path)))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const key = await generateUserKey()
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, encodeUserKey(key), { mode: 0o600, flush: true })
  await rename(tmp, path)
  return key
}
