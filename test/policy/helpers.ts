import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import type { ManifestInput, PeerFacts, SignedManifest } from '../../src/policy/index.ts'
import { signManifest, userIdOf } from '../../src/policy/index.ts'

/** A deterministic Ed25519 key: the same seed gives the same user or peer id in every run. */
export async function keyFor(seed: number): Promise<PrivateKey> {
  return generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))
}

/** `count` distinct ids, from seeds `from`, `from + 1`, … */
export async function idsFrom(from: number, count: number): Promise<string[]> {
  const keys = await Promise.all(Array.from({ length: count }, (_, i) => keyFor(from + i)))
  return keys.map(userIdOf)
}

export function manifestInput(owner: string, overrides: Partial<ManifestInput> = {}): ManifestInput {
  return {
    name: 'kv',
    image: { sha256: 'ab'.repeat(32) },
    replicas: 3,
    owner,
    dataPolicy: {},
    createdAt: '2025-03-01T12:00:00Z',
    ...overrides,
  }
}

export async function signedBy(
  key: PrivateKey,
  overrides: Partial<ManifestInput> = {},
): Promise<SignedManifest> {
  return signManifest(manifestInput(userIdOf(key), overrides), key)
}

export function peer(id: string, facts: Partial<Omit<PeerFacts, 'id'>> = {}): PeerFacts {
  return {
    id,
    org: 'physics',
    site: 'lab-a',
    labels: {},
    idle: true,
    load: { hostedWorkloads: 0, committedMemoryMiB: 0, committedDiskMiB: 0, workloadCpuPercent: 0 },
    ...facts,
  }
}
