import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { dataDirLayout, prepareDataDir } from '../../../src/agent/config/index.ts'
import { DataDirError } from '../../../src/errors/index.ts'

const isRoot = process.getuid?.() === 0

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-datadir-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

test('the data directory is created with private directories, and again without complaint', async (t) => {
  const root = join(await tempDir(t), 'state', 'understudy')
  const layout = await prepareDataDir(root)
  t.deepEqual(layout, dataDirLayout(root))
  t.is(layout.peerKey, join(root, 'peer.key'))
  t.is(layout.controlSocket, join(root, 'control.sock'))
  t.is(layout.controlToken, join(root, 'control.token'))
  t.is(layout.wasmCache, join(root, 'cache', 'wasm'))
  for (const dir of [
    root,
    layout.store,
    join(root, 'cache'),
    layout.wasmCache,
    layout.checkpoints,
    layout.logs,
  ]) {
    const info = await stat(dir)
    t.true(info.isDirectory(), dir)
    t.is(info.mode & 0o777, 0o700, dir)
  }
  await writeFile(layout.peerKey, 'key', { mode: 0o600 })
  t.deepEqual(await prepareDataDir(root), layout)
})

test('a data directory every user may write is refused', async (t) => {
  const root = await tempDir(t)
  await chmod(root, 0o777)
  const err = await t.throwsAsync(prepareDataDir(root), { instanceOf: DataDirError })
  t.is(err.path, root)
  t.true(err.message.includes('writable by every user (mode 777)'), err.message)
  t.true(err.message.includes(`chmod 700 ${root}`), err.message)
})

test('a world-writable subdirectory is refused too', async (t) => {
  const root = await tempDir(t)
  await mkdir(join(root, 'checkpoints'), { mode: 0o700 })
  await chmod(join(root, 'checkpoints'), 0o777)
  const err = await t.throwsAsync(prepareDataDir(root), { instanceOf: DataDirError })
  t.is(err.path, join(root, 'checkpoints'))
})

test('a key file other users can read is refused', async (t) => {
  const root = await tempDir(t)
  await writeFile(join(root, 'peer.key'), 'key', { mode: 0o644 })
  await chmod(join(root, 'peer.key'), 0o644)
  const err = await t.throwsAsync(prepareDataDir(root), { instanceOf: DataDirError })
  t.true(err.message.includes(`chmod 600 ${join(root, 'peer.key')}`), err.message)
})

test('a data directory path that is a file is refused', async (t) => {
  const file = join(await tempDir(t), 'state')
  await writeFile(file, '')
  await t.throwsAsync(prepareDataDir(file), {
    instanceOf: DataDirError,
    message: /cannot create|not a directory/,
  })
})

test("a data directory owned by a uid other than the agent's is refused", async (t) => {
  const root = await tempDir(t)
  const ours = (await stat(root)).uid
  const err = await t.throwsAsync(prepareDataDir(root, { uid: ours + 1 }), { instanceOf: DataDirError })
  t.true(err.message.includes(`belongs to uid ${ours}, but the agent runs as uid ${ours + 1}`), err.message)
})

// chown to another user needs root; the uid option above covers the check itself everywhere.
const asRoot = isRoot ? test : test.skip
asRoot('a data directory owned by another user is refused (needs root to chown)', async (t) => {
  const root = await tempDir(t)
  await chown(root, 12_345, 12_345)
  const err = await t.throwsAsync(prepareDataDir(root), { instanceOf: DataDirError })
  t.true(err.message.includes(`${root} belongs to uid 12345, but the agent runs as uid 0`), err.message)
})
