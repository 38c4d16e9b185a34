/**
 * The virtual disk on its own: seeding, deterministic encoding, exports,
 * limits, and POSIX link accounting.
 */
import { execFileSync } from 'node:child_process'
import { mkdir, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { CheckpointError, ConfigError } from '../../../src/errors/index.ts'
import { Errno, VirtualDisk, WasiError } from '../../../src/replay/wasi/index.ts'
import { readTree, removeAll, tempDir } from './guest-runner.ts'

const text = (s: string) => new TextEncoder().encode(s)
const dirs: string[] = []
test.after.always(() => removeAll(...dirs))

async function scratch(prefix: string): Promise<string> {
  const dir = await tempDir(prefix)
  dirs.push(dir)
  return dir
}

test('fromHostDir copies files, directories, symlinks and hard links, and lists what it skipped', async (t) => {
  const host = await scratch('seed')
  await mkdir(join(host, 'sub'))
  await writeFile(join(host, 'sub', 'a.txt'), 'aaa')
  execFileSync('ln', [join(host, 'sub', 'a.txt'), join(host, 'hard.txt')])
  execFileSync('ln', ['-s', 'sub/a.txt', join(host, 'sym')])
  execFileSync('mkfifo', [join(host, 'pipe')])
  const disk = await VirtualDisk.fromHostDir(host)
  t.deepEqual(disk.skipped, [{ path: 'pipe', reason: 'a named pipe is not supported' }])
  t.deepEqual(disk.readFile('/sub/a.txt'), text('aaa'))
  t.is(disk.lookup('/hard.txt'), disk.lookup('/sub/a.txt'), 'one inode, two names')
  t.is(disk.lookup('/hard.txt')?.nlink, 2)
  const sym = disk.lookup('/sym')
  t.is(sym?.type, 'symlink')
  t.is(sym?.type === 'symlink' ? sym.target : '', 'sub/a.txt')
  t.is(disk.root.nlink, 3)
  t.is(disk.lookup('/sub')?.mtim, 0n, 'seeded entries carry time 0, not the host mtime')
  await t.throwsAsync(VirtualDisk.fromHostDir(join(host, 'nope')), { instanceOf: ConfigError })
})

test('the encoding depends on content and history only, not on host order or times', async (t) => {
  const one = await scratch('one')
  const two = await scratch('two')
  for (const name of ['b', 'a', 'c']) await writeFile(join(one, name), name)
  for (const name of ['c', 'a', 'b']) await writeFile(join(two, name), name)
  await utimes(join(two, 'a'), 1000, 2000)
  const a = await VirtualDisk.fromHostDir(one)
  const b = await VirtualDisk.fromHostDir(two)
  t.deepEqual(a.serialize(), b.serialize())
  t.deepEqual(a.digest(), b.digest())
  t.is(a.digest().length, 32)
  a.writeFile('/d', text('x'))
  t.notDeepEqual(a.digest(), b.digest())
})

test('serialize → deserialize keeps everything, unlinked-but-open files and readdir cookies included', (t) => {
  const disk = new VirtualDisk()
  disk.now = 1234n
  const dir = disk.makeDirectory('/x/y')
  const file = disk.writeFile('/x/y/f', text('payload'))
  disk.addLink(disk.root, 'link', file)
  disk.addSymlink(dir, 's', '../y/f')
  const orphan = disk.writeFile('/tmp', text('still open'))
  disk.retain(orphan)
  disk.unlink(disk.root, 'tmp')
  disk.writeFile('/x/gone', text(''))
  disk.unlink(disk.lookup('/x') as never, 'gone')
  const bytes = disk.serialize()
  const copy = VirtualDisk.deserialize(bytes)
  t.deepEqual(copy.serialize(), bytes)
  t.is(copy.node(orphan.ino)?.nlink, 0, 'the open orphan is kept')
  t.deepEqual(copy.readFile('/link'), text('payload'))
  t.is(copy.now, 1234n)
  t.is(copy.totalBytes, disk.totalBytes)
  const next = copy.addFile(copy.lookup('/x') as never, 'new')
  t.is(next.ino, disk.addFile(disk.lookup('/x') as never, 'new').ino, 'inode numbering continues identically')
  t.deepEqual(copy.serialize(), disk.serialize())
})

test('a damaged encoding is refused with CheckpointError', (t) => {
  const disk = new VirtualDisk()
  disk.writeFile('/f', text('abc'))
  disk.makeDirectory('/d')
  const bytes = disk.serialize()
  t.throws(() => VirtualDisk.deserialize(bytes.subarray(0, bytes.length - 1)), {
    instanceOf: CheckpointError,
  })
  const badMagic = bytes.slice()
  badMagic[0] = 0
  t.throws(() => VirtualDisk.deserialize(badMagic), { instanceOf: CheckpointError, message: /magic/ })
  t.throws(() => VirtualDisk.deserialize(new Uint8Array([...bytes, 0])), { instanceOf: CheckpointError })
})

test('exportTo writes the tree with its links, and refuses a non-empty directory', async (t) => {
  const disk = new VirtualDisk()
  const file = disk.writeFile('/a', text('A'))
  disk.makeDirectory('/d/e')
  disk.addLink(disk.lookup('/d') as never, 'hard', file)
  disk.addSymlink(disk.root, 's', 'd/hard')
  const out = await scratch('export')
  await disk.exportTo(join(out, 'fresh'))
  t.deepEqual(await readTree(join(out, 'fresh')), {
    a: 'file 1 bytes, nlink 2, sha256 559aead08264d579',
    'd/': 'dir',
    'd/e/': 'dir',
    'd/hard': 'file 1 bytes, nlink 2, sha256 559aead08264d579',
    s: 'symlink -> d/hard',
  })
  await t.throwsAsync(disk.exportTo(join(out, 'fresh')), { instanceOf: ConfigError })
  t.is((await stat(join(out, 'fresh', 'a'))).mtimeMs, 0)
})

test('file size and disk quota limits give EFBIG and ENOSPC', (t) => {
  const disk = new VirtualDisk({ limits: { maxFileSize: 100, maxTotalBytes: 150 } })
  const a = disk.writeFile('/a', new Uint8Array(100))
  const errno = (f: () => unknown) => (t.throws(f, { instanceOf: WasiError }) as WasiError).errno
  t.is(
    errno(() => disk.write(a, 100, new Uint8Array(1))),
    Errno.FBIG,
  )
  const b = disk.writeFile('/b', new Uint8Array(50))
  t.is(
    errno(() => disk.resize(b, 51)),
    Errno.NOSPC,
  )
  disk.unlink(disk.root, 'a')
  t.is(disk.totalBytes, 50, 'removing a file frees its bytes')
  disk.resize(b, 100)
  t.is(disk.totalBytes, 100)
})

test('links and renames keep POSIX link counts', (t) => {
  const disk = new VirtualDisk()
  const a = disk.makeDirectory('/a')
  const b = disk.makeDirectory('/b')
  disk.makeDirectory('/a/sub')
  t.is(a.nlink, 3)
  disk.rename(a, 'sub', b, 'moved')
  t.is(a.nlink, 2)
  t.is(b.nlink, 3)
  t.is((disk.lookup('/b/moved') as { parent: unknown }).parent, b)
  const errno = (f: () => unknown) => (t.throws(f, { instanceOf: WasiError }) as WasiError).errno
  t.is(
    errno(() => disk.rename(disk.root, 'b', b, 'inside')),
    Errno.INVAL,
  )
  t.is(
    errno(() => disk.addLink(disk.root, 'dirlink', a)),
    Errno.PERM,
  )
  disk.removeDirectory(b, 'moved')
  t.is(b.nlink, 2)
  t.is(disk.root.nlink, 4)
  t.is(
    errno(() => disk.addFile(disk.root, 'a')),
    Errno.EXIST,
  )
})
