import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { createMeshNode, IdentityError, KEY_FILE_NAME, loadOrCreateIdentity } from '../../src/mesh/index.ts'

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'understudy-identity-'))
}

test('the PeerId is the same after a restart, and the key file is private', async (t) => {
  const dir = await tempDir()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const dataDir = join(dir, 'agent')

  const first = await loadOrCreateIdentity(dataDir)
  t.true(first.created)
  t.is(first.keyPath, join(dataDir, KEY_FILE_NAME))
  t.is((await stat(first.keyPath)).mode & 0o777, 0o600)
  t.is((await stat(dataDir)).mode & 0o777, 0o700)
  t.deepEqual(await readdir(dataDir), [KEY_FILE_NAME], 'no temp file is left behind')

  const second = await loadOrCreateIdentity(dataDir)
  t.false(second.created)
  t.true(second.peerId.equals(first.peerId))

  // The node runs under that identity.
  const node = await createMeshNode({ privateKey: second.privateKey })
  t.teardown(() => node.stop())
  t.true(node.peerId.equals(first.peerId))
})

test('agents racing to create the key agree on one PeerId', async (t) => {
  const dir = await tempDir()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const results = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateIdentity(dir)))
  const ids = new Set(results.map((r) => r.peerId.toString()))
  t.is(ids.size, 1)
  t.is(results.filter((r) => r.created).length, 1)
  t.deepEqual(await readdir(dir), [KEY_FILE_NAME])
})

test('a corrupt key file gives an IdentityError naming the file and what to do', async (t) => {
  const dir = await tempDir()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { keyPath } = await loadOrCreateIdentity(dir)
  await writeFile(keyPath, new Uint8Array([0x08, 0x01, 0x12, 0x40, 1, 2, 3]), { mode: 0o600 })

  const err = await t.throwsAsync(loadOrCreateIdentity(dir), { instanceOf: IdentityError })
  t.is(err?.code, 'ERR_IDENTITY')
  t.is(err?.path, keyPath)
  t.regex(err?.message ?? '', /corrupt/)
  t.true(err?.message.includes(keyPath))
  t.regex(err?.message ?? '', /move it away/)
})

test('a key file readable by other users is refused', async (t) => {
  const dir = await tempDir()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { keyPath } = await loadOrCreateIdentity(dir)
  await chmod(keyPath, 0o644)
  const err = await t.throwsAsync(loadOrCreateIdentity(dir), { instanceOf: IdentityError })
  t.regex(err?.message ?? '', /chmod 600/)
})

test('a key file of another key type is refused', async (t) => {
  const dir = await tempDir()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { generateKeyPair, privateKeyToProtobuf } = await import('@libp2p/crypto/keys')
  const secp = await generateKeyPair('secp256k1')
  await writeFile(join(dir, KEY_FILE_NAME), privateKeyToProtobuf(secp), { mode: 0o600 })
  const err = await t.throwsAsync(loadOrCreateIdentity(dir), { instanceOf: IdentityError })
  t.regex(err?.message ?? '', /secp256k1/)
})

test('an unreadable key file gives an IdentityError', async (t) => {
  const dir = await tempDir()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // A directory where the key should be: unreadable as a key for any user, root included.
  await mkdir(join(dir, KEY_FILE_NAME), { mode: 0o700 })
  const notFile = await t.throwsAsync(loadOrCreateIdentity(dir), { instanceOf: IdentityError })
  t.regex(notFile?.message ?? '', /not a regular file/)

  if (process.getuid?.() === 0) {
    t.log('running as root: the permission-denied case needs an unprivileged user and was not checked')
    return
  }
  const other = await tempDir()
  t.teardown(() => rm(other, { recursive: true, force: true }))
  const { keyPath } = await loadOrCreateIdentity(other)
  await chmod(keyPath, 0o000)
  const denied = await t.throwsAsync(loadOrCreateIdentity(other), { instanceOf: IdentityError })
  t.regex(denied?.message ?? '', /cannot read/)
})
