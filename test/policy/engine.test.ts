import * as cedar from '@cedar-policy/cedar-wasm/nodejs'
import test from 'ava'
import { CedarPolicyError } from '../../src/errors/index.ts'
import {
  BASE_POLICIES,
  CEDAR_SCHEMA,
  compileDataPolicy,
  compileHostPolicy,
  loadAdminCedar,
  PolicyEngine,
  parseHostPolicy,
  type WorkloadFacts,
} from '../../src/policy/index.ts'
import { idsFrom, keyFor, peer, signedBy } from './helpers.ts'

const ownerKey = await keyFor(1)
const [host, primary, shadow, outsider, admin] = (await idsFrom(30, 5)) as [
  string,
  string,
  string,
  string,
  string,
]
const kv: WorkloadFacts = {
  manifest: (await signedBy(ownerKey, { dataPolicy: { deny: { orgs: ['visitors'] } } })).manifest,
  ownerOrgs: ['physics'],
  epoch: 4,
  primary,
  members: [primary, shadow, host],
}

function withCedar(text: string): PolicyEngine {
  return new PolicyEngine({ host: { peerId: host, policy: parseHostPolicy({ cedar: text }) } })
}

test('every policy the compiler can emit validates against the schema', (t) => {
  const manifest = kv.manifest
  const everything = {
    ...manifest,
    dataPolicy: {
      allow: { peers: [primary], orgs: ['physics'], sites: ['lab-a'], labels: { disk: 'ssd' } },
      deny: { peers: [outsider], orgs: ['visitors'], sites: ['home'], labels: { loaner: 'yes' } },
      minSites: 1,
    },
  }
  const hostPolicy = parseHostPolicy({
    allow: { users: [admin], orgs: ['physics'] },
    deny: { users: [outsider], orgs: ['visitors'] },
    caps: { maxWorkloads: 3, maxMemoryMiB: 4096, maxDiskMiB: 8192, cpuShare: 0.25 },
    schedule: { idleOnly: true, hours: { from: 20, to: 24 } },
    witness: false,
    admins: [admin],
    blockPeers: [outsider],
  })
  const policies = {
    ...BASE_POLICIES.policies,
    ...compileDataPolicy(everything).policies,
    ...compileHostPolicy(host, hostPolicy).policies,
  }
  t.true(Object.keys(policies).length >= 25)
  const answer = cedar.validate({ schema: CEDAR_SCHEMA, policies: { staticPolicies: policies } })
  t.is(answer.type, 'success')
  if (answer.type === 'success') t.deepEqual(answer.validationErrors, [])
})

test('a forbid wins over any permit, wherever each comes from', (t) => {
  // The admin permits everything; the owner's data policy still keeps visitors out.
  const lax = withCedar('@id("everything") permit(principal, action, resource);')
  const visitor = lax.decide({
    action: 'host-replica',
    principal: peer(host, { org: 'visitors' }),
    resource: kv,
  })
  t.is(visitor.decision, 'deny')
  t.deepEqual(visitor.policyIds, ['data:deny-orgs'])
  t.is(
    lax.decide({ action: 'control', principal: { id: outsider, orgs: [] }, resource: kv }).decision,
    'allow',
  )

  // And an admin's forbid overrides the owner's grant.
  const strict = withCedar(
    '@id("no-big") @reason("no workload over 32 MiB here")\nforbid(principal, action, resource is Understudy::Workload) when { resource.memoryMiB > 32 };',
  )
  const big = strict.decide({ action: 'host-replica', principal: peer(host), resource: kv })
  t.is(big.decision, 'deny')
  t.deepEqual(big.policyIds, ['admin:no-big'])
  t.deepEqual(big.reasons, ['admin policy admin:no-big (line 1): no workload over 32 MiB here'])
  t.is(
    strict.decide({ action: 'control', principal: { id: kv.manifest.owner, orgs: [] }, resource: kv })
      .decision,
    'deny',
  )
})

test('admin Cedar with a syntax error is refused at load with its line and column', (t) => {
  const text =
    'permit(principal, action, resource);\n\nforbid(principal, action, resource)\n  when { principal.org == };\n'
  const err = t.throws(() => loadAdminCedar(text), { instanceOf: CedarPolicyError })
  t.is(err?.code, 'ERR_CEDAR_SYNTAX')
  t.is(err?.line, 4)
  t.is(err?.column, 27)
  t.regex(err?.message ?? '', /^admin Cedar policy, line 4, column 27: .*unexpected token/)
  t.throws(() => withCedar(text), { instanceOf: CedarPolicyError })
})

test('admin Cedar that does not fit the schema is refused with its position, even after non-ASCII text', (t) => {
  const text =
    '// réseau du labo\nforbid(principal is Understudy::Peer, action, resource)\n  when { principal.buliding == "b" };'
  const err = t.throws(() => loadAdminCedar(text), { instanceOf: CedarPolicyError })
  t.is(err?.code, 'ERR_CEDAR_SCHEMA')
  t.is(err?.line, 3)
  t.is(err?.column, 10)
  t.regex(err?.message ?? '', /buliding/)
})

test('two admin policies with one id are refused', (t) => {
  const err = t.throws(
    () =>
      loadAdminCedar(
        '@id("a") permit(principal, action, resource);\n@id("a") forbid(principal, action, resource);',
      ),
    { instanceOf: CedarPolicyError },
  )
  t.is(err?.line, 2)
})

test('a member accepts entries only from the primary of the current epoch', (t) => {
  const engine = new PolicyEngine()
  const send = (from: string, epoch: number) =>
    engine.decide({ action: 'send-entries', principal: peer(from), resource: kv, context: { epoch } })
  t.deepEqual(send(primary, 4).policyIds, ['data:grant'])

  const old = send(primary, 3)
  t.deepEqual(old.policyIds, ['base:older-epoch', 'base:primary-only'])
  t.regex(old.reasons[0] ?? '', /epoch 3 are older than workload kv's current epoch 4/)

  const impostor = send(shadow, 4)
  t.deepEqual(impostor.policyIds, ['base:primary-only'])
  t.regex(
    impostor.reasons[0] ?? '',
    /peer .* is not the primary of workload kv in epoch 4 \(the primary is .*\)/,
  )

  t.is(send(shadow, 5).decision, 'deny')
  const leaderless = engine.decide({
    action: 'send-entries',
    principal: peer(primary),
    resource: { ...kv, primary: undefined },
    context: { epoch: 4 },
  })
  t.regex(leaderless.reasons[0] ?? '', /has no known primary in epoch 4/)
})

test('entries and checkpoints go only to current members', (t) => {
  const engine = new PolicyEngine()
  for (const action of ['receive-entries', 'request-checkpoint'] as const) {
    t.is(engine.decide({ action, principal: peer(shadow), resource: kv }).decision, 'allow')
    const stranger = engine.decide({ action, principal: peer(outsider), resource: kv })
    t.deepEqual(stranger.policyIds, ['base:members-only'])
    t.regex(stranger.reasons[0] ?? '', /peer .* is not a current member of workload kv \(epoch 4\)/)
  }
})

test('a policy that fails to evaluate denies, and says so', async (t) => {
  const engine = new PolicyEngine({
    host: { peerId: host, policy: parseHostPolicy({ caps: { maxMemoryMiB: 1024 } }) },
  })
  // committed + needed overflows Cedar's 64-bit integers: the cap cannot be checked.
  const load = {
    hostedWorkloads: 0,
    committedMemoryMiB: 2 ** 63 - 1024,
    committedDiskMiB: 0,
    workloadCpuPercent: 0,
  }
  const big = (await signedBy(ownerKey, { resources: { memoryMiB: 4096, diskMiB: 0 } })).manifest
  const answer = engine.decide({
    action: 'host-replica',
    principal: peer(host, { load }),
    resource: { manifest: big },
  })
  t.is(answer.decision, 'deny')
  t.true(answer.policyIds.includes('host:max-memory'))
  t.regex(answer.reasons.join('\n'), /policy host:max-memory could not be evaluated .*denied to be safe/)
})

test('a decision names its action, principal and resource for the audit log', (t) => {
  const answer = new PolicyEngine().decide({ action: 'host-replica', principal: peer(host), resource: kv })
  t.like(answer, {
    action: 'host-replica',
    principal: host,
    resource: `${kv.manifest.owner}/kv`,
    decision: 'allow',
  })
})

test('the engine shows the Cedar in force for a workload', (t) => {
  const text = new PolicyEngine({
    host: { peerId: host, policy: parseHostPolicy({ schedule: { idleOnly: true } }) },
  }).cedarText(kv.manifest)
  t.regex(text, /@id\("base:primary-only"\)/)
  t.regex(text, /@id\("data:deny-orgs"\)[\s\S]*\["visitors"\]\.contains\(principal\.org\)/)
  t.regex(text, /@id\("host:idle-only"\)[\s\S]*unless \{ principal\.idle \}/)
})
