/**
 * Signed workload manifests. The owner signs the canonical JSON of the whole manifest
 * (data policy included), so a host can check, from the owner's user id alone, that
 * nobody loosened the policy or swapped the image on the way.
 */
import type { PrivateKey } from '@libp2p/interface'
import {
  ManifestInvalidError,
  ManifestNotOwnerError,
  ManifestTamperedError,
  ManifestUnsignedError,
} from '../errors/index.ts'
import { type Manifest, type ManifestInput, parseManifest } from './documents.ts'
import { isUserId, signValue, userIdOf, verifyValue } from './keys.ts'

/** A manifest as it travels: the document, its signer, and the signature. */
export interface SignedManifest {
  manifest: Manifest
  /** The signer's user id; must be the manifest's owner. */
  signer: string
  /** Ed25519, base64url, over `MANIFEST_DOMAIN + "\n" + canonicalJson(manifest)`. */
  signature: string
}

export const MANIFEST_DOMAIN = 'understudy/manifest/v1'

/** Validates the manifest (filling defaults) and signs it with its owner's key. */
export async function signManifest(input: ManifestInput, key: PrivateKey): Promise<SignedManifest> {
  const manifest = parseManifest(input)
  const signer = userIdOf(key)
  if (signer !== manifest.owner) throw new ManifestNotOwnerError(signer, manifest.owner)
  const signed = await signValue(MANIFEST_DOMAIN, manifest, key)
  return { manifest, signer, signature: signed.signature }
}

/**
 * Checks a signed manifest received from anywhere (parsed JSON) and returns the manifest.
 * Refuses, in this order: no signature (ERR_MANIFEST_UNSIGNED), a malformed envelope
 * (ERR_MANIFEST_INVALID), a signature that does not verify (ERR_MANIFEST_TAMPERED), a
 * malformed manifest (ERR_MANIFEST_INVALID, naming the field), a signer that is not the
 * owner (ERR_MANIFEST_NOT_OWNER).
 */
export async function verifyManifest(signed: unknown): Promise<Manifest> {
  if (!isRecord(signed)) {
    throw new ManifestInvalidError('(root)', 'a signed manifest is an object { manifest, signer, signature }')
  }
  const { manifest, signer, signature } = signed
  if (signature == null || signature === '') {
    throw new ManifestUnsignedError(
      'the manifest carries no signature: its owner must sign it with their user key',
    )
  }
  if (typeof signature !== 'string')
    throw new ManifestInvalidError('signature', 'signature must be a base64url string')
  if (typeof signer !== 'string' || !isUserId(signer)) {
    throw new ManifestInvalidError(
      'signer',
      'signer must be the user id (Ed25519 peer id) of the key that signed',
    )
  }
  if (!isRecord(manifest)) throw new ManifestInvalidError('manifest', 'manifest must be an object')

  // Verify the document exactly as received, before parsing normalizes it, so a field
  // added, dropped or changed in transit cannot slip past the signature.
  let verified: boolean
  try {
    verified = await verifyValue(MANIFEST_DOMAIN, manifest, signer, signature)
  } catch (err) {
    if (err instanceof TypeError) throw new ManifestInvalidError('manifest', err.message, { cause: err })
    throw err
  }
  if (!verified) {
    throw new ManifestTamperedError(
      `the manifest's signature does not verify for signer ${signer}: it was changed after it was signed`,
    )
  }
  const parsed = parseManifest(manifest)
  if (parsed.owner !== signer) throw new ManifestNotOwnerError(signer, parsed.owner)
  return parsed
}

/** A workload's identity across the mesh: names are unique per owner. */
export function workloadIdOf(manifest: Pick<Manifest, 'owner' | 'name'>): string {
  return `${manifest.owner}/${manifest.name}`
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
