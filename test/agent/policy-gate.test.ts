import test, { type ExecutionContext } from 'ava'
import type { HostPolicyConfig } from '../../src/agent/config/index.ts'
import { EventHub } from '../../src/agent/control/event-hub.ts'
import {
  type EnforcementPoint,
  type HostPolicyExtras,
  hostEngine,
  hostPolicyFromConfig,
  type PolicyAuditRecord,
  PolicyGate,
} from '../../src/agent/policy-gate.ts'
import { AgentStore } from '../../src/agent/store/index.ts'
import type { ControlEvent } from '../../src/control/api-types.ts'
import {
  ManifestNotOwnerError,
  ManifestTamperedError,
  ManifestUnsignedError,
} from '../../src/errors/index.ts'
import { createMeshNode } from '../../src/mesh/index.ts'
import {
  type CandidateStatus,
  type DataPolicyInput,
  MANIFEST_DOMAIN,
  type PeerFacts,
  signValue,
  userIdOf,
  type WorkloadFacts,
} from '../../src/policy/index.ts'
import { connect, startNodes, stopAll } from '../mesh/helpers.ts'
import { idsFrom, keyFor, peer, signedBy } from '../policy/helpers.ts'
import { tempDir } from './store/helpers.ts'

const ownerKey = await keyFor(1)
const owner = userIdOf(ownerKey)
const strangerKey = await keyFor(2)
const stranger = userIdOf(strangerKey)
const hostAdmin = userIdOf(await keyFor(3))
const [host, primary, shadow, visitor, outsider, newcomer] = (await idsFrom(60, 6)) as [
  string,
  string,
  string,
  string,
  string,
  string,
]

/** The defaults of config/README.md, admitting every user. */
function hostConfig(overrides: Partial<HostPolicyConfig> = {}): HostPolicyConfig {
  return {
    allowUsers: ['*'],
    allowOrgs: [],
    caps: { maxWorkloads: 4, maxMemoryMiB: 2048, cpuShare: 0.5, maxDiskMiB: 10_240 },
    schedule: { idleOnly: false, hours: [] },
    allowWitness: true,
    ...overrides,
  }
}

/** Peers the mesh status cache knows: the visitor is in an org the data policy below denies. */
const known = new Map<string, PeerFacts>([
  [primary, peer(primary, { site: 'lab-a' })],
  [shadow, peer(shadow, { site: 'lab-b' })],
  [visitor, peer(visitor, { org: 'visitors', site: 'lab-c' })],
])

async function workload(
  dataPolicy: DataPolicyInput = { deny: { orgs: ['visitors'] } },
): Promise<WorkloadFacts> {
  const { manifest } = await signedBy(ownerKey, { dataPolicy })
  return { manifest, epoch: 4, primary, members: [primary, shadow, host, visitor] }
}

interface Setup {
  gate: PolicyGate
  store: AgentStore
  events: ControlEvent[]
  clock: { now: Date }
  audit(): Promise<PolicyAuditRecord[]>
}

async function setup(
  t: ExecutionContext,
  options: {
    config?: HostPolicyConfig
    extras?: HostPolicyExtras
    self?: PeerFacts
    orgs?: Record<string, string[]>
  } = {},
): Promise<Setup> {
  const store = await AgentStore.open({ path: tempDir(t, 'us-gate-') })
  t.teardown(() => store.close())
  const hub = new EventHub()
  const events: ControlEvent[] = []
  hub.subscribe((event) => events.push(event))
  // Local time: 22:00 on this machine.
  const clock = { now: new Date(2025, 2, 3, 22, 0, 0) }
  const self = options.self ?? peer(host, { site: 'lab-h' })
  const orgs = options.orgs ?? { [owner]: ['physics'] }
  const gate = new PolicyGate({
    engine: hostEngine(host, options.config ?? hostConfig(), options.extras),
    audit: store.audit,
    events: hub,
    self: () => self,
    peerFacts: (id) => known.get(id),
    userOrgs: (id) => orgs[id] ?? [],
    now: () => clock.now,
  })
  const audit = async () => (await store.audit.read()).map((entry) => entry.record as PolicyAuditRecord)
  return { gate, store, events, clock, audit }
}

/** The last audit record and event are this refusal, with a reason naming `rule`. */
async function assertRefusalRecorded(t: ExecutionContext, s: Setup, point: EnforcementPoint, rule: string) {
  const last = (await s.audit()).at(-1)
  t.is(last?.kind, 'policy-decision')
  t.is(last?.point, point)
  t.is(last?.decision, 'deny')
  t.true(last?.policyIds.includes(rule), `audit names ${rule}: ${JSON.stringify(last?.policyIds)}`)
  t.true((last?.reasons.length ?? 0) > 0 && last?.reasons.every((reason) => reason.length > 10))
  const event = s.events.at(-1)
  t.is(event?.type, 'policy-refusal')
  if (event?.type === 'policy-refusal') {
    t.is(event.action, point)
    t.deepEqual(event.reasons, last?.reasons)
  }
}

test('a host refuses a replica its host policy or the data policy forbids, and records why', async (t) => {
  const s = await setup(t, { config: hostConfig({ allowUsers: [], allowOrgs: ['physics'] }) })
  const kv = await workload()

  const accepted = await s.gate.mayHostReplica(kv.manifest, primary)
  t.is(accepted.decision, 'allow')
  const allowRecord = (await s.audit()).at(-1)
  t.is(allowRecord?.decision, 'allow')
  t.is(allowRecord?.detail?.proposer, primary)

  const { manifest: foreign } = await signedBy(strangerKey)
  const refused = await s.gate.mayHostReplica(foreign, primary)
  t.is(refused.decision, 'deny')
  t.deepEqual(refused.policyIds, ['host:allow'])
  await assertRefusalRecorded(t, s, 'host-replica', 'host:allow')
  const event = s.events.at(-1)
  t.true(event?.type === 'policy-refusal' && event.principal === host && event.workload === 'kv')

  const { manifest: elsewhere } = await signedBy(ownerKey, { dataPolicy: { allow: { sites: ['lab-a'] } } })
  t.is((await s.gate.mayHostReplica(elsewhere, primary)).decision, 'deny')
  await assertRefusalRecorded(t, s, 'host-replica', 'data:allow-sites')

  const full = await s.gate.mayHostReplica(kv.manifest, primary, {
    hostedWorkloads: 4,
    committedMemoryMiB: 0,
    committedDiskMiB: 0,
    workloadCpuPercent: 0,
  })
  t.is(full.decision, 'deny')
  await assertRefusalRecorded(t, s, 'host-replica', 'host:max-workloads')
})

test('a primary sends entries only to current members that the data policy admits', async (t) => {
  const s = await setup(t)
  const kv = await workload()
  t.is((await s.gate.maySendEntries(kv, shadow)).decision, 'allow')

  t.is((await s.gate.maySendEntries(kv, visitor)).decision, 'deny')
  await assertRefusalRecorded(t, s, 'send-entries', 'data:deny-orgs')
  t.regex((await s.audit()).at(-1)?.reasons[0] ?? '', /denies org "visitors"/)

  t.is((await s.gate.maySendEntries(kv, outsider)).decision, 'deny')
  await assertRefusalRecorded(t, s, 'send-entries', 'base:members-only')

  // A peer the status cache does not know has no org: an allow list by org keeps it out.
  const orgOnly = { ...(await workload({ allow: { orgs: ['physics'] } })), members: [primary, outsider] }
  t.is((await s.gate.maySendEntries(orgOnly, outsider)).decision, 'deny')
  await assertRefusalRecorded(t, s, 'send-entries', 'data:allow-orgs')
})

test('a member accepts entries only from the primary of the current epoch', async (t) => {
  const s = await setup(t)
  const kv = await workload()
  t.is((await s.gate.mayReceiveEntries(kv, primary, 4)).decision, 'allow')

  const old = await s.gate.mayReceiveEntries(kv, primary, 3)
  t.is(old.decision, 'deny')
  await assertRefusalRecorded(t, s, 'accept-entries', 'base:older-epoch')
  t.regex(old.reasons.join(' '), /epoch 3 are older than workload kv's current epoch 4/)
  t.is((await s.audit()).at(-1)?.detail?.epoch, 3)

  // A shadow claiming a newer epoch this member has not seen won: forged, as far as it knows.
  const forged = await s.gate.mayReceiveEntries(kv, shadow, 9)
  t.is(forged.decision, 'deny')
  await assertRefusalRecorded(t, s, 'accept-entries', 'base:primary-only')
  t.regex(forged.reasons.join(' '), /stamped with epoch 9, not the current epoch 4/)

  const impostor = await s.gate.mayReceiveEntries(kv, shadow, 4)
  t.is(impostor.decision, 'deny')
  t.regex(impostor.reasons.join(' '), /is not the primary of workload kv in epoch 4/)

  const noPrimary = await s.gate.mayReceiveEntries({ ...kv, primary: undefined }, primary, 4)
  t.is(noPrimary.decision, 'deny')
  t.regex(noPrimary.reasons.join(' '), /has no known primary in epoch 4/)
})

test('a checkpoint is served only to a member the data policy admits', async (t) => {
  const s = await setup(t)
  const kv = await workload()
  t.is((await s.gate.mayRequestCheckpoint(kv, shadow)).decision, 'allow')
  t.is((await s.gate.mayRequestCheckpoint(kv, visitor)).decision, 'deny')
  await assertRefusalRecorded(t, s, 'serve-checkpoint', 'data:deny-orgs')
  t.is((await s.gate.mayRequestCheckpoint(kv, outsider)).decision, 'deny')
  await assertRefusalRecorded(t, s, 'serve-checkpoint', 'base:members-only')
})

test('control is for the owner, the local admin and admins the host names; anyone else is refused', async (t) => {
  const s = await setup(t, { extras: { admins: [hostAdmin] } })
  const kv = await workload()
  t.deepEqual((await s.gate.mayControl({ userId: owner, localAdmin: false }, 'stop', kv)).policyIds, [
    'base:owner-control',
  ])
  const local = await s.gate.mayControl(
    { localAdmin: true, name: 'local-admin (unix socket)' },
    'failover',
    kv,
  )
  t.is(local.decision, 'allow')
  t.deepEqual(local.policyIds, ['base:local-admin'])
  t.is((await s.audit()).at(-1)?.detail?.caller, 'local-admin (unix socket)')
  t.is((await s.gate.mayControl({ userId: hostAdmin, localAdmin: false }, 'stop', kv)).decision, 'allow')

  const refused = await s.gate.mayControl({ userId: stranger, localAdmin: false }, 'stop', kv)
  t.is(refused.decision, 'deny')
  t.regex(refused.reasons[0] ?? '', /only the owner of workload kv .* may stop it/)
  const last = (await s.audit()).at(-1)
  t.is(last?.decision, 'deny')
  t.is(last?.principal, stranger)
  t.is(last?.detail?.op, 'stop')
  t.is(s.events.at(-1)?.type, 'policy-refusal')
  t.is((await s.gate.mayControl({ localAdmin: false }, 'run', kv)).decision, 'deny')
  t.is((await s.audit()).at(-1)?.principal, '(anonymous)')
})

test('per-batch allows are written once per interval and after a deny; denies every time', async (t) => {
  const s = await setup(t)
  const kv = await workload()
  for (let i = 0; i < 5; i++) await s.gate.maySendEntries(kv, shadow)
  t.is((await s.audit()).length, 1, 'five batches, one allow record')

  await s.gate.mayReceiveEntries(kv, primary, 4)
  await s.gate.mayReceiveEntries(kv, primary, 4)
  t.is((await s.audit()).length, 2)
  await s.gate.mayReceiveEntries(kv, primary, 3)
  await s.gate.mayReceiveEntries(kv, primary, 3)
  t.is((await s.audit()).filter((r) => r.decision === 'deny').length, 2, 'every deny is written')
  await s.gate.mayReceiveEntries(kv, primary, 4)
  await s.gate.mayReceiveEntries(kv, primary, 4)
  t.is((await s.audit()).length, 5, 'the allow after a deny is news; the next one is not')

  s.clock.now = new Date(s.clock.now.getTime() + 61_000)
  await s.gate.maySendEntries(kv, shadow)
  const last = (await s.audit()).at(-1)
  t.is(last?.point, 'send-entries')
  t.is(last?.skippedAllows, 4, 'the record after the interval counts the allows it stands for')
})

test('connections are allowed unless the host policy blocks the peer', async (t) => {
  const s = await setup(t, { extras: { blockPeers: [outsider] } })
  t.is((await s.gate.mayConnect(primary)).decision, 'allow')
  t.is((await s.gate.mayConnect(newcomer)).decision, 'allow', 'a peer the status cache does not know yet')
  t.is((await s.gate.mayConnect(outsider)).decision, 'deny')
  await assertRefusalRecorded(t, s, 'connect', 'host:block-peers')
  t.is((await s.audit()).at(-1)?.resource, host)
})

test('the connection gater keeps a blocked peer off a real libp2p node and lets others in', async (t) => {
  const others = await startNodes(2)
  t.teardown(() => stopAll(others))
  const [friend, blocked] = others as [NonNullable<(typeof others)[0]>, NonNullable<(typeof others)[0]>]
  const key = await keyFor(77)
  const selfId = userIdOf(key)
  const store = await AgentStore.open({ path: tempDir(t, 'us-gate-') })
  t.teardown(() => store.close())
  const gate = new PolicyGate({
    engine: hostEngine(selfId, hostConfig(), { blockPeers: [blocked.peerId.toString()] }),
    audit: store.audit,
    self: () => peer(selfId),
    peerFacts: () => undefined,
  })
  const guarded = await createMeshNode({ privateKey: key, connectionGater: gate.connectionGater() })
  t.teardown(() => guarded.stop())

  await connect(guarded, friend)
  t.is(guarded.getConnections(friend.peerId).length, 1)
  await t.throwsAsync(connect(guarded, blocked))
  t.is(guarded.getConnections(blocked.peerId).length, 0)
  const records = (await store.audit.read()).map((entry) => entry.record as PolicyAuditRecord)
  t.true(records.some((r) => r.decision === 'deny' && r.principal === blocked.peerId.toString()))
  t.true(records.some((r) => r.decision === 'allow' && r.principal === friend.peerId.toString()))
})

test('an unsigned, tampered or foreign-signed manifest is refused with its typed error and audited', async (t) => {
  const s = await setup(t)
  const signed = await signedBy(ownerKey)
  const bytes = new TextEncoder().encode(JSON.stringify(signed))
  t.is((await s.gate.verifyIncomingManifest(bytes, primary)).name, 'kv')
  t.is((await s.audit()).at(-1)?.decision, 'allow')

  await t.throwsAsync(s.gate.verifyIncomingManifest({ ...signed, signature: '' }), {
    instanceOf: ManifestUnsignedError,
  })
  let last = (await s.audit()).at(-1)
  t.is(last?.decision, 'deny')
  t.is(last?.detail?.code, 'ERR_MANIFEST_UNSIGNED')
  t.is(last?.resource, `${owner}/kv`)

  const loosened = { ...signed, manifest: { ...signed.manifest, replicas: 1 } }
  const tampered = new TextEncoder().encode(JSON.stringify(loosened))
  await t.throwsAsync(s.gate.verifyIncomingManifest(tampered, primary), { instanceOf: ManifestTamperedError })
  last = (await s.audit()).at(-1)
  t.is(last?.detail?.code, 'ERR_MANIFEST_TAMPERED')
  t.is(last?.principal, primary)
  t.regex(last?.reasons[0] ?? '', /changed after it was signed/)
  const event = s.events.at(-1)
  t.true(event?.type === 'policy-refusal' && event.action === 'verify-manifest' && event.workload === 'kv')

  // Validly signed, but by someone who is not the owner the manifest names.
  const bySomeoneElse = await signValue(MANIFEST_DOMAIN, signed.manifest, strangerKey)
  await t.throwsAsync(
    s.gate.verifyIncomingManifest({
      manifest: signed.manifest,
      signer: stranger,
      signature: bySomeoneElse.signature,
    }),
    { instanceOf: ManifestNotOwnerError },
  )
  last = (await s.audit()).at(-1)
  t.is(last?.detail?.code, 'ERR_MANIFEST_NOT_OWNER')
  t.is((await s.audit()).filter((r) => r.decision === 'deny').length, 3)

  await t.throwsAsync(s.gate.verifyIncomingManifest(new TextEncoder().encode('{not json')), {
    code: 'ERR_MANIFEST_INVALID',
  })
  t.is((await s.audit()).at(-1)?.resource, '(unknown)')
})

function candidate(id: string, overrides: Partial<CandidateStatus> = {}): CandidateStatus {
  return {
    peerId: id,
    site: 'lab-a',
    org: 'physics',
    labels: {},
    idle: true,
    cpuFree: 2,
    memFreeMiB: 4096,
    hostedWorkloads: 0,
    rttMs: 1,
    hostPolicy: {},
    ...overrides,
  }
}

test('explain: one peer may hold the workload, and it is chosen as primary', async (t) => {
  const s = await setup(t)
  const { manifest } = await signedBy(ownerKey, { replicas: 1, dataPolicy: { deny: { orgs: ['visitors'] } } })
  const explanation = s.gate.explainPlacement({
    manifest,
    candidates: [candidate(primary), candidate(visitor, { org: 'visitors', site: 'lab-c' })],
  })
  t.is(explanation.name, 'kv')
  t.is(explanation.decidedAt, s.clock.now.getTime())
  t.regex(explanation.summary, /^placed 1 of 1 replicas of kv: primary on 12D3KooW/)
  const [chosen, refused] = explanation.candidates
  t.like(chosen, { peerId: primary, chosen: true, role: 'primary', site: 'lab-a', org: 'physics' })
  t.like(refused, { peerId: visitor, chosen: false, role: undefined, org: 'visitors' })
  t.regex(refused?.reasons.join(' ') ?? '', /denies org "visitors"/)
  t.is((await s.audit()).length, 0, 'explaining is a read: nothing is audited')
})

test('explain: when no placement satisfies the policies, the summary names the blocking rule', async (t) => {
  const s = await setup(t)
  const { manifest } = await signedBy(ownerKey, {
    replicas: 2,
    dataPolicy: { allow: { orgs: ['chemistry'] } },
  })
  const request = { manifest, candidates: [candidate(primary), candidate(shadow, { site: 'lab-b' })] }
  const explanation = s.gate.explainPlacement(request)
  t.regex(explanation.summary, /^no placement satisfies the policies: workload kv needs 2 replicas/)
  t.regex(explanation.summary, /blocked by data:allow-orgs on 2 peers/)
  t.true(explanation.candidates.every((c) => !c.chosen))

  const { placement } = await s.gate.placeReplicas(request)
  t.false(placement.satisfied)
  t.deepEqual(placement.chosen, [], 'never a partial placement unless asked')
  const record = (await s.audit()).at(-1)
  t.like(record, { point: 'placement', decision: 'deny', workload: 'kv' })
  t.regex(record?.reasons[0] ?? '', /data:allow-orgs/)
  const event = s.events.at(-1)
  t.true(
    event?.type === 'policy-refusal' &&
      event.action === 'placement' &&
      /data:allow-orgs/.test(event.reasons[0] ?? ''),
  )
})

test('explain: among several eligible peers, replicas go to distinct sites, best first', async (t) => {
  const s = await setup(t, { self: peer(host, { site: 'lab-h', idle: false }) })
  const { manifest } = await signedBy(ownerKey, { replicas: 2, dataPolicy: { minSites: 2 } })
  const { placement, explanation } = await s.gate.placeReplicas({
    manifest,
    candidates: [
      candidate(primary, { rttMs: 5 }),
      candidate(shadow, { rttMs: 1 }),
      candidate(outsider, { site: 'lab-b', rttMs: 9 }),
      // This host: no advertised policy, so the gate answers from its own engine (idle, no rule against).
      candidate(host, { site: 'lab-h', hostPolicy: undefined, idle: false }),
    ],
  })
  t.true(placement.satisfied)
  t.deepEqual(
    placement.chosen.map((r) => [r.peerId, r.role]),
    [
      [shadow, 'primary'],
      [outsider, 'shadow'],
    ],
  )
  t.regex(
    explanation.summary,
    /^placed 2 of 2 replicas of kv: primary on .* \(site "lab-a"\), shadow on .* \(site "lab-b"\)$/,
  )
  const passedOver = explanation.candidates.find((c) => c.peerId === primary)
  t.regex(passedOver?.reasons[0] ?? '', /already has a better-ranked replica/)
  const self = explanation.candidates.find((c) => c.peerId === host)
  t.false(self?.chosen)
  t.regex(self?.reasons[0] ?? '', /^eligible, rank 4 of 4/)
  t.like((await s.audit()).at(-1), { point: 'placement', decision: 'allow' })
})

test("the gate answers for this host in placement with its own rules, which the config's lists set", async (t) => {
  const s = await setup(t, { config: hostConfig({ allowUsers: [], allowOrgs: [] }) })
  const { manifest } = await signedBy(ownerKey, { replicas: 1 })
  const explanation = s.gate.explainPlacement({
    manifest,
    candidates: [candidate(host, { hostPolicy: undefined })],
  })
  t.regex(explanation.summary, /host:closed/)
  t.regex(explanation.candidates[0]?.reasons.join(' ') ?? '', /takes no one's workloads/)
})

test('the config host policy translates: "*", empty lists, several hour windows, all day', async (t) => {
  const { manifest } = await signedBy(ownerKey)
  const kv: WorkloadFacts = { manifest, ownerOrgs: ['physics'] }
  const decide = (config: HostPolicyConfig, hour: number) =>
    hostEngine(host, config).decide({
      action: 'host-replica',
      principal: peer(host),
      resource: kv,
      context: { hour },
    })

  t.is(decide(hostConfig({ allowUsers: [], allowOrgs: ['*'] }), 12).decision, 'allow')
  t.deepEqual(decide(hostConfig({ allowUsers: [], allowOrgs: [] }), 12).policyIds, ['host:closed'])
  t.deepEqual(decide(hostConfig({ allowUsers: [stranger], allowOrgs: [] }), 12).policyIds, ['host:allow'])
  t.is(decide(hostConfig({ allowUsers: [stranger], allowOrgs: ['physics'] }), 12).decision, 'allow')

  const windows = hostConfig({
    schedule: {
      idleOnly: false,
      hours: [
        { from: 6, to: 8 },
        { from: 20, to: 2 },
      ],
    },
  })
  t.deepEqual(
    [1, 3, 7, 12, 21].map((hour) => decide(windows, hour).decision),
    ['allow', 'deny', 'allow', 'deny', 'allow'],
  )
  t.regex(decide(windows, 12).reasons[0] ?? '', /from 06:00 to 08:00 or from 20:00 to 02:00 local time/)
  const allDay = hostPolicyFromConfig(
    hostConfig({ schedule: { idleOnly: true, hours: [{ from: 0, to: 24 }] } }),
  )
  t.is(allDay.schedule.hours, undefined)
  t.true(allDay.schedule.idleOnly)
  t.deepEqual(hostPolicyFromConfig(hostConfig({ allowWitness: false })).witness, false)
})
