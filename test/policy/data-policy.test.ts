import test from 'ava'
import {
  type DecisionRequest,
  type PeerFacts,
  PolicyEngine,
  type WorkloadFacts,
} from '../../src/policy/index.ts'
import { idsFrom, keyFor, peer, signedBy } from './helpers.ts'

// One engine per file: decisions with no host policy, so only the data policy and built-in rules speak.
const engine = new PolicyEngine()
const owner = await keyFor(1)
const [alice, bob, carol] = (await idsFrom(10, 3)) as [string, string, string]

async function workload(dataPolicy: object): Promise<WorkloadFacts> {
  const signed = await signedBy(owner, { dataPolicy })
  return { manifest: signed.manifest, epoch: 1, primary: alice, members: [alice, bob, carol] }
}

function hosting(principal: PeerFacts, resource: WorkloadFacts): DecisionRequest {
  return { action: 'host-replica', principal, resource }
}

test('a data policy that allows one org admits its peers and names the rule for the others', async (t) => {
  const kv = await workload({ allow: { orgs: ['physics'] } })
  const ok = engine.decide(hosting(peer(alice, { org: 'physics' }), kv))
  t.is(ok.decision, 'allow')
  t.deepEqual(ok.policyIds, ['data:grant'])

  const no = engine.decide(hosting(peer(bob, { org: 'chemistry' }), kv))
  t.is(no.decision, 'deny')
  t.deepEqual(no.policyIds, ['data:allow-orgs'])
  t.regex(
    no.reasons[0] ?? '',
    /^data policy of workload kv \(owner 12D3KooW.*\) allows only org "physics"; peer 12D3KooW.* is in org "chemistry"$/,
  )
})

test('a data policy denies a peer by its id, and only that peer', async (t) => {
  const kv = await workload({ deny: { peers: [bob] } })
  t.is(engine.decide(hosting(peer(alice), kv)).decision, 'allow')
  const no = engine.decide(hosting(peer(bob), kv))
  t.is(no.decision, 'deny')
  t.deepEqual(no.policyIds, ['data:deny-peers'])
  t.regex(no.reasons[0] ?? '', /denies peer 12D3KooW.* by its id/)
})

test('a data policy that lists peers admits only them', async (t) => {
  const kv = await workload({ allow: { peers: [alice, carol] } })
  t.is(engine.decide(hosting(peer(carol), kv)).decision, 'allow')
  const no = engine.decide(hosting(peer(bob), kv))
  t.deepEqual(no.policyIds, ['data:allow-peers'])
  t.regex(no.reasons[0] ?? '', /allows only peers .*; peer 12D3KooW.* is not one of them/)
})

test('required labels must all match, and a denied label excludes', async (t) => {
  const kv = await workload({
    allow: { labels: { disk: 'ssd', tier: 'lab' } },
    deny: { labels: { loaner: 'yes' } },
  })
  t.is(
    engine.decide(hosting(peer(alice, { labels: { disk: 'ssd', tier: 'lab', extra: 'x' } }), kv)).decision,
    'allow',
  )

  const wrongValue = engine.decide(hosting(peer(bob, { labels: { disk: 'hdd', tier: 'lab' } }), kv))
  t.deepEqual(wrongValue.policyIds, ['data:allow-labels'])
  t.regex(wrongValue.reasons[0] ?? '', /requires labels disk=ssd, tier=lab; peer .* has disk=hdd, tier=lab/)
  t.is(engine.decide(hosting(peer(bob, { labels: {} }), kv)).decision, 'deny')

  const loaner = engine.decide(
    hosting(peer(carol, { labels: { disk: 'ssd', tier: 'lab', loaner: 'yes' } }), kv),
  )
  t.deepEqual(loaner.policyIds, ['data:deny-labels'])
  t.regex(loaner.reasons[0] ?? '', /denies peers labelled loaner=yes; peer .* has loaner=yes/)
})

test('allowed and denied sites and orgs each decide with their own rule', async (t) => {
  const kv = await workload({ allow: { sites: ['lab-a', 'lab-b'] }, deny: { orgs: ['visitors'] } })
  t.is(engine.decide(hosting(peer(alice, { site: 'lab-b' }), kv)).decision, 'allow')
  t.deepEqual(engine.decide(hosting(peer(alice, { site: 'home' }), kv)).policyIds, ['data:allow-sites'])
  const both = engine.decide(hosting(peer(alice, { site: 'home', org: 'visitors' }), kv))
  t.deepEqual(both.policyIds, ['data:allow-sites', 'data:deny-orgs'])
  t.is(both.reasons.length, 2)
  const noSite = engine.decide(hosting(peer(alice, { site: '' }), kv))
  t.regex(noSite.reasons[0] ?? '', /peer .* has no site/)
})

test('the data policy also guards entries, checkpoints and the sender of entries', async (t) => {
  const kv = await workload({ allow: { orgs: ['physics'] } })
  const chemist = peer(bob, { org: 'chemistry' })
  for (const action of ['receive-entries', 'request-checkpoint'] as const) {
    const answer = engine.decide({ action, principal: chemist, resource: kv })
    t.is(answer.decision, 'deny', action)
    t.deepEqual(answer.policyIds, ['data:allow-orgs'], action)
  }
  const fromChemist = engine.decide({
    action: 'send-entries',
    principal: chemist,
    resource: { ...kv, primary: bob },
    context: { epoch: 1 },
  })
  t.deepEqual(fromChemist.policyIds, ['data:allow-orgs'])
  t.is(engine.decide({ action: 'receive-entries', principal: peer(carol), resource: kv }).decision, 'allow')
})

test('a witness holds no data, so the data policy does not restrict it', async (t) => {
  const kv = await workload({ allow: { orgs: ['physics'] } })
  t.is(
    engine.decide({ action: 'be-witness', principal: peer(bob, { org: 'chemistry' }), resource: kv })
      .decision,
    'allow',
  )
})
