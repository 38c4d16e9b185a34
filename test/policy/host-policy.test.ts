import test from 'ava'
import { PolicyInvalidError } from '../../src/errors/index.ts'
import {
  type HostPolicyInput,
  type PeerFacts,
  PolicyEngine,
  parseHostPolicy,
  userIdOf,
  type WorkloadFacts,
} from '../../src/policy/index.ts'
import { idsFrom, keyFor, peer, signedBy } from './helpers.ts'

const ownerKey = await keyFor(1)
const owner = userIdOf(ownerKey)
const [host, other, admin] = (await idsFrom(20, 3)) as [string, string, string]
const kv: WorkloadFacts = {
  manifest: (await signedBy(ownerKey, { resources: { memoryMiB: 512, diskMiB: 1024 } })).manifest,
  ownerOrgs: ['physics'],
}

function engineWith(policy: HostPolicyInput): PolicyEngine {
  return new PolicyEngine({ host: { peerId: host, policy: parseHostPolicy(policy) } })
}

function load(partial: Partial<PeerFacts['load']>): PeerFacts['load'] {
  return { hostedWorkloads: 0, committedMemoryMiB: 0, committedDiskMiB: 0, workloadCpuPercent: 0, ...partial }
}

test('a host that admits listed users refuses a workload of anyone else, naming the rule', async (t) => {
  const engine = engineWith({ allow: { users: [admin] } })
  const answer = engine.decide({ action: 'host-replica', principal: peer(host), resource: kv })
  t.is(answer.decision, 'deny')
  t.deepEqual(answer.policyIds, ['host:allow'])
  t.regex(
    answer.reasons[0] ?? '',
    /^host policy of peer 12D3KooW.* admits only workloads of user .*; the owner .* of workload kv is in org "physics"$/,
  )
})

test("a host that admits an org runs its members' workloads and refuses others'", async (t) => {
  const engine = engineWith({ allow: { orgs: ['physics', 'maths'] } })
  t.is(engine.decide({ action: 'host-replica', principal: peer(host), resource: kv }).decision, 'allow')
  const outsider = engine.decide({
    action: 'host-replica',
    principal: peer(host),
    resource: { ...kv, ownerOrgs: [] },
  })
  t.deepEqual(outsider.policyIds, ['host:allow'])
  t.regex(
    outsider.reasons[0] ?? '',
    /admits only workloads of orgs "physics" or "maths"; .* is in no known org/,
  )
  const denied = engineWith({ deny: { orgs: ['physics'] } }).decide({
    action: 'host-replica',
    principal: peer(host),
    resource: kv,
  })
  t.deepEqual(denied.policyIds, ['host:deny-orgs'])
})

test('each cap refuses a replica that would exceed it, and says by how much', async (t) => {
  const engine = engineWith({
    caps: { maxWorkloads: 2, maxMemoryMiB: 2048, maxDiskMiB: 4096, cpuShare: 0.5 },
  })
  const decide = (l: Partial<PeerFacts['load']>) =>
    engine.decide({ action: 'host-replica', principal: peer(host, { load: load(l) }), resource: kv })

  t.is(
    decide({ hostedWorkloads: 1, committedMemoryMiB: 1536, committedDiskMiB: 3072, workloadCpuPercent: 49 })
      .decision,
    'allow',
  )

  const full = decide({ hostedWorkloads: 2 })
  t.deepEqual(full.policyIds, ['host:max-workloads'])
  t.regex(full.reasons[0] ?? '', /caps hosted workloads at 2; it already hosts 2$/)

  const memory = decide({ committedMemoryMiB: 1537 })
  t.deepEqual(memory.policyIds, ['host:max-memory'])
  t.regex(
    memory.reasons[0] ?? '',
    /caps workload memory at 2048 MiB; 1537 MiB committed plus 512 MiB for kv would exceed it/,
  )

  t.deepEqual(decide({ committedDiskMiB: 3073 }).policyIds, ['host:max-disk'])
  const cpu = decide({ workloadCpuPercent: 63 })
  t.deepEqual(cpu.policyIds, ['host:cpu-share'])
  t.regex(cpu.reasons[0] ?? '', /at most 50% of its CPU; they already use 63%/)
})

test('an idle-only host refuses while its owner is active', async (t) => {
  const engine = engineWith({ schedule: { idleOnly: true } })
  t.is(
    engine.decide({ action: 'host-replica', principal: peer(host, { idle: true }), resource: kv }).decision,
    'allow',
  )
  const busy = engine.decide({ action: 'host-replica', principal: peer(host, { idle: false }), resource: kv })
  t.deepEqual(busy.policyIds, ['host:idle-only'])
  t.regex(busy.reasons[0] ?? '', /only while its owner is idle; the owner is using it/)
})

test('a host with hours refuses outside them, across midnight, and when the hour is unknown', async (t) => {
  const engine = engineWith({ schedule: { hours: { from: 18, to: 8 } } })
  const at = (hour?: number) =>
    engine.decide({
      action: 'host-replica',
      principal: peer(host),
      resource: kv,
      context: hour == null ? {} : { hour },
    })
  t.is(at(22).decision, 'allow')
  t.is(at(3).decision, 'allow')
  t.is(at(18).decision, 'allow')
  const day = at(8)
  t.deepEqual(day.policyIds, ['host:hours'])
  t.regex(day.reasons[0] ?? '', /only from 18:00 to 08:00 local time; its local hour is 8/)
  t.regex(at().reasons[0] ?? '', /its local hour is unknown/)
  const office = engineWith({ schedule: { hours: { from: 9, to: 17 } } })
  t.is(
    office.decide({ action: 'host-replica', principal: peer(host), resource: kv, context: { hour: 12 } })
      .decision,
    'allow',
  )
  t.is(
    office.decide({ action: 'host-replica', principal: peer(host), resource: kv, context: { hour: 17 } })
      .decision,
    'deny',
  )
})

test('a host may be allowed or refused as a witness', async (t) => {
  t.is(engineWith({}).decide({ action: 'be-witness', principal: peer(host), resource: kv }).decision, 'allow')
  const refused = engineWith({ witness: false }).decide({
    action: 'be-witness',
    principal: peer(host),
    resource: kv,
  })
  t.deepEqual(refused.policyIds, ['host:no-witness'])
  t.regex(refused.reasons[0] ?? '', /host policy of peer .* does not act as a witness/)
  // Whose workloads it serves applies to witnessing too.
  const stranger = engineWith({ allow: { orgs: ['maths'] } }).decide({
    action: 'be-witness',
    principal: peer(host),
    resource: kv,
  })
  t.deepEqual(stranger.policyIds, ['host:allow'])
})

test("a host policy binds only its own machine, and the schedule does not cut a replica's entries", async (t) => {
  const engine = engineWith({ schedule: { idleOnly: true }, caps: { maxWorkloads: 0 } })
  t.is(
    engine.decide({ action: 'host-replica', principal: peer(other, { idle: false }), resource: kv }).decision,
    'allow',
  )
  const member = { ...kv, members: [host] }
  t.is(
    engine.decide({ action: 'receive-entries', principal: peer(host, { idle: false }), resource: member })
      .decision,
    'allow',
  )
})

test('the workload owner, a listed admin and the local admin may control a workload; others may not', async (t) => {
  const engine = engineWith({ admins: [admin] })
  const control = (id: string, localAdmin = false) =>
    engine.decide({
      action: 'control',
      principal: { id, orgs: [] },
      resource: kv,
      context: { op: 'stop', localAdmin },
    })
  t.deepEqual(control(owner).policyIds, ['base:owner-control'])
  t.deepEqual(control(admin).policyIds, ['host:admins'])
  t.deepEqual(control(other, true).policyIds, ['base:local-admin'])
  const refused = control(other)
  t.is(refused.decision, 'deny')
  t.regex(refused.reasons[0] ?? '', /only the owner of workload kv .* may stop it; user .* is none of them/)
})

test('a blocked peer may not connect; others may', async (t) => {
  const engine = engineWith({ blockPeers: [other] })
  const connect = (id: string) =>
    engine.decide({ action: 'connect', principal: peer(id), resource: peer(host) })
  t.is(connect(admin).decision, 'allow')
  const blocked = connect(other)
  t.deepEqual(blocked.policyIds, ['host:block-peers'])
  t.regex(blocked.reasons[0] ?? '', /blocks peer/)
})

test('a malformed host policy is refused, naming the field', (t) => {
  const cases: Array<[unknown, string]> = [
    [{ caps: { cpuShare: 1.5 } }, 'caps.cpuShare'],
    [{ schedule: { hours: { from: 8, to: 8 } } }, 'schedule.hours'],
    [{ allow: {} }, 'allow'],
    [{ allow: { users: ['someone'] } }, 'allow.users.0'],
    [{ withness: true }, 'withness'],
  ]
  for (const [policy, field] of cases) {
    const err = t.throws(() => parseHostPolicy(policy), { instanceOf: PolicyInvalidError })
    t.is(err?.code, 'ERR_POLICY_INVALID')
    t.is(err?.field, field)
  }
})
