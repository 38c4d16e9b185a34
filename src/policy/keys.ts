/**
 * Users' keys are the kind libp2p uses: Ed25519. A user's public identity is the PeerId
 * string of the key, which embeds the public key itself, so anyone can check a user's
 * signature from the id alone, without a key directory. Pure: callers read and write files.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { toString as bytesToString, fromString } from 'uint8arrays'
import { UserKeyError } from '../errors/index.ts'
import { canonicalJson } from './canonical-json.ts'

/** A value, who signed it, and the signature over its canonical form. */
export interface Signed<T> {
  value: T
  /** The signer's user id (PeerId string). */
  signer: string
  /** Ed25519 signature, base64url, over `domain + "\n" + canonicalJson(value)`. */
  signature: string
}

/** Generates a new user key (Ed25519). */
export async function generateUserKey(): Promise<PrivateKey> {
  return generateKeyPair('Ed25519')
}

/** The user id of a key: its PeerId string (`12D3KooW…`). */
export function userIdOf(key: PrivateKey | PublicKey): string {
  if (key.type !== 'Ed25519') throw new UserKeyError(`user keys are Ed25519; this one is ${key.type}`)
  return peerIdFromPublicKey('publicKey' in key ? key.publicKey : key).toString()
}

/** The key's file form: libp2p's protobuf, the same bytes as the agent's peer.key. */
export function encodeUserKey(key: PrivateKey): Uint8Array {
  if (key.type !== 'Ed25519') throw new UserKeyError(`user keys are Ed25519; this one is ${key.type}`)
  return privateKeyToProtobuf(key)
}

/** Reads a key from its file form; refuses anything but Ed25519. */
export function decodeUserKey(bytes: Uint8Array): PrivateKey {
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new UserKeyError(`not a libp2p private key: ${(err as Error).message}`, { cause: err })
  }
  if (key.type !== 'Ed25519') throw new UserKeyError(`user keys are Ed25519; this one is ${key.type}`)
  return key
}

/** The public key inside a user id; refuses ids that are not Ed25519 PeerIds. */
export function publicKeyOfUser(userId: string): PublicKey {
  let peerId: ReturnType<typeof peerIdFromString>
  try {
    peerId = peerIdFromString(userId)
  } catch (err) {
    throw new UserKeyError(`"${userId}" is not a peer id: ${(err as Error).message}`, { cause: err })
  }
  if (peerId.type !== 'Ed25519')
    throw new UserKeyError(`user ids are Ed25519 peer ids; ${userId} is ${peerId.type}`)
  return peerId.publicKey
}

/** True when `id` is a peer id string of any key type (hosts may be listed by any peer id). */
export function isPeerId(id: string): boolean {
  try {
    peerIdFromString(id)
    return true
  } catch {
    return false
  }
}

/** True when `id` is the PeerId string of an Ed25519 key (a user id). */
export function isUserId(id: string): boolean {
  try {
    return peerIdFromString(id).type === 'Ed25519'
  } catch {
    return false
  }
}

/**
 * Signs a JSON value. The domain ("understudy/manifest/v1") keeps a signature made for one
 * kind of document from being replayed as another.
 */
export async function signValue<T>(domain: string, value: T, key: PrivateKey): Promise<Signed<T>> {
  const signature = await key.sign(signedBytes(domain, value))
  return { value, signer: userIdOf(key), signature: bytesToString(signature, 'base64url') }
}

/** True when `signature` is `signer`'s signature over `value` in `domain`. */
export async function verifyValue(
  domain: string,
  value: unknown,
  signer: string,
  signature: string,
): Promise<boolean> {
  const publicKey = publicKeyOfUser(signer)
  let sig: Uint8Array
  try {
    sig = fromString(signature, 'base64url')
  } catch {
    return false
  }
  return publicKey.verify(signedBytes(domain, value), sig)
}

function signedBytes(domain: string, value: unknown): Uint8Array {
  return new TextEncoder().encode(`${domain}\n${canonicalJson(value)}`)
}
