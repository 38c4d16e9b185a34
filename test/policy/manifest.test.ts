import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import test from 'ava'
import { ManifestInvalidError, PolicyError } from '../../src/errors/index.ts'
import {
  canonicalJson,
  decodeUserKey,
  encodeUserKey,
  MANIFEST_DOMAIN,
  type Manifest,
  parseManifest,
  publicKeyOfUser,
  type SignedManifest,
  signManifest,
  signValue,
  userIdOf,
  verifyManifest,
} from '../../src/policy/index.ts'
import { keyFor, manifestInput, signedBy } from './helpers.ts'

const owner = await keyFor(1)
const stranger = await keyFor(2)
const ownerId = userIdOf(owner)

/** What a host receives: the signed manifest after a trip through JSON text. */
function overTheWire(value: SignedManifest): SignedManifest & { manifest: WireManifest } {
  return JSON.parse(JSON.stringify(value))
}

/** A manifest someone may have meddled with on the way. */
type WireManifest = Manifest & { extra?: unknown }

test('a signed manifest verifies after a trip through JSON, defaults filled in', async (t) => {
  const signed = await signedBy(owner, { dataPolicy: { allow: { orgs: ['physics'] }, minSites: 2 } })
  const manifest = await verifyManifest(overTheWire(signed))
  t.is(manifest.owner, ownerId)
  t.deepEqual(manifest.dataPolicy, { allow: { orgs: ['physics'] }, deny: {}, minSites: 2 })
  t.deepEqual(manifest.resources, { memoryMiB: 64, diskMiB: 256 })
  t.deepEqual(manifest, signed.manifest)
})

test('a reformatted manifest (keys reordered, pretty-printed) still verifies', async (t) => {
  const signed = await signedBy(owner)
  const reordered = Object.fromEntries(Object.entries(signed.manifest).reverse())
  const pretty = JSON.parse(
    JSON.stringify({ signature: signed.signature, signer: signed.signer, manifest: reordered }, null, 2),
  )
  t.is((await verifyManifest(pretty)).name, 'kv')
  t.is(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }), '{"a":[2,{"c":4,"d":3}],"b":1}')
})

const tamperings: Array<[string, (m: WireManifest) => void]> = [
  ['its name changed', (m) => (m.name = 'kv2')],
  ['its image changed', (m) => (m.image.sha256 = 'cd'.repeat(32))],
  ['its replica count changed', (m) => (m.replicas = 1)],
  ['its owner changed', (m) => (m.owner = userIdOf(stranger))],
  ['its allow list grew', (m) => (m.dataPolicy.allow.orgs = ['physics', 'chemistry'])],
  ['its minSites dropped', (m) => (m.dataPolicy.minSites = 1)],
  ['its deny list was dropped', (m) => delete m.dataPolicy.deny.peers],
  ['its resources changed', (m) => (m.resources.memoryMiB = 4096)],
  ['its createdAt changed', (m) => (m.createdAt = '2030-01-01T00:00:00Z')],
  ['a field was added', (m) => (m.extra = true)],
]

for (const [what, tamper] of tamperings) {
  test(`a manifest is refused as tampered when ${what} after signing`, async (t) => {
    const signed = overTheWire(
      await signedBy(owner, {
        dataPolicy: { allow: { orgs: ['physics'] }, deny: { peers: [userIdOf(stranger)] }, minSites: 2 },
      }),
    )
    tamper(signed.manifest)
    const err = await t.throwsAsync(verifyManifest(signed), { instanceOf: PolicyError })
    t.is(err?.code, 'ERR_MANIFEST_TAMPERED')
  })
}

test('a corrupted signature is refused as tampered', async (t) => {
  const signed = overTheWire(await signedBy(owner))
  const sig: string = signed.signature
  signed.signature = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1)
  const err = await t.throwsAsync(verifyManifest(signed))
  t.is((err as PolicyError).code, 'ERR_MANIFEST_TAMPERED')
})

test('an unsigned manifest is refused', async (t) => {
  const signed = overTheWire(await signedBy(owner))
  for (const signature of [undefined, '']) {
    const err = await t.throwsAsync(verifyManifest({ ...signed, signature }))
    t.is((err as PolicyError).code, 'ERR_MANIFEST_UNSIGNED')
  }
  const bare = await t.throwsAsync(verifyManifest({ manifest: signed.manifest }))
  t.is((bare as PolicyError).code, 'ERR_MANIFEST_UNSIGNED')
})

test('a manifest signed by someone other than its owner is refused', async (t) => {
  const manifest = parseManifest(manifestInput(ownerId))
  const forged = await signValue(MANIFEST_DOMAIN, manifest, stranger)
  const err = await t.throwsAsync(
    verifyManifest(overTheWire({ manifest, signer: forged.signer, signature: forged.signature })),
  )
  t.is((err as PolicyError).code, 'ERR_MANIFEST_NOT_OWNER')
  t.regex((err as Error).message, /not by its owner/)
  // Claiming the owner as signer does not help: the owner's key did not sign it.
  const claimed = await t.throwsAsync(
    verifyManifest(overTheWire({ manifest, signer: ownerId, signature: forged.signature })),
  )
  t.is((claimed as PolicyError).code, 'ERR_MANIFEST_TAMPERED')
  // And nobody can sign a manifest in someone else's name by mistake.
  const refused = await t.throwsAsync(signManifest(manifestInput(ownerId), stranger))
  t.is((refused as PolicyError).code, 'ERR_MANIFEST_NOT_OWNER')
})

test('a validly signed but malformed manifest is refused, naming the field', async (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ replicas: 0 }, 'replicas'],
    [{ image: { sha256: 'xyz' } }, 'image.sha256'],
    [{ dataPolicy: { allow: {}, deny: {}, minSites: 4 } }, 'dataPolicy.minSites'],
    [{ dataPolicy: { allow: { orgs: [] }, deny: {}, minSites: 1 } }, 'dataPolicy.allow.orgs'],
    [{ dataPolicy: { allow: { peers: ['not-a-peer'] }, deny: {}, minSites: 1 } }, 'dataPolicy.allow.peers.0'],
    [{ color: 'blue' }, 'color'],
  ]
  for (const [change, field] of cases) {
    const manifest = { ...manifestInput(ownerId), ...change }
    const signed = await signValue(MANIFEST_DOMAIN, manifest, owner)
    const err = await t.throwsAsync(
      verifyManifest({ manifest, signer: signed.signer, signature: signed.signature }),
      {
        instanceOf: ManifestInvalidError,
      },
    )
    t.is(err?.code, 'ERR_MANIFEST_INVALID')
    t.is(err?.field, field, `field for ${JSON.stringify(change)}`)
    t.true(err?.message.includes(field))
  }
})

test('a user key survives its file form, and its id alone verifies its signatures', async (t) => {
  const key = decodeUserKey(encodeUserKey(owner))
  t.is(userIdOf(key), ownerId)
  t.true(publicKeyOfUser(ownerId).equals(owner.publicKey))
  const other = await generateKeyPair('secp256k1')
  t.is((t.throws(() => decodeUserKey(privateKeyToProtobuf(other))) as PolicyError).code, 'ERR_USER_KEY')
  t.is((t.throws(() => encodeUserKey(other)) as PolicyError).code, 'ERR_USER_KEY')
  t.is((t.throws(() => decodeUserKey(new Uint8Array([1, 2, 3]))) as PolicyError).code, 'ERR_USER_KEY')
  t.is((t.throws(() => publicKeyOfUser('nope')) as PolicyError).code, 'ERR_USER_KEY')
})
