import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { buildGuest } from '../../scripts/build-guests.ts'
import { dataDir } from './data-dir.ts'
import { runReference } from './reference-runtime.ts'

const expected = (name: string) => readFile(join(import.meta.dirname, 'expected', name), 'utf8')

/** Every path under `dir` with its size (files) or a trailing slash (directories), sorted. */
async function hostTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  const lines = await Promise.all(
    entries.map(async (e) => {
      const path = join(e.parentPath, e.name)
      const rel = path.slice(dir.length + 1)
      return e.isDirectory() ? `${rel}/` : `${rel} ${(await stat(path)).size}`
    }),
  )
  return lines.sort()
}

test('fsops prints the expected report under node:wasi, twice in a row', async (t) => {
  const fsops = await buildGuest('fsops')
  const dir = await dataDir(t)
  const want = await expected('fsops.txt')
  for (const round of [1, 2]) {
    const run = await runReference(fsops, { dirs: { '/data': dir } })
    t.is(run.exitCode, 0, `round ${round}: ${run.stderr}`)
    t.is(run.stdout, want, `round ${round}`)
  }
  t.deepEqual(await hostTree(dir), [
    'fsops/',
    'fsops/big.bin 98304',
    'fsops/moved/',
    'fsops/moved/one.txt 1',
    'fsops/moved/two.txt 2',
  ])
})

test('the Rust files program prints the expected report and leaves its files on disk', async (t) => {
  const files = await buildGuest('files')
  const dir = await dataDir(t)
  await writeFile(join(dir, 'seed.txt'), 'seeded by the host\nsecond\n')
  const options = {
    dirs: { '/data': dir },
    args: ['/data', 'hello', 'world'],
    env: { FILES_MODE: 'golden', OTHER: 'ignored' },
  }
  const want = await expected('files.txt')
  for (const round of [1, 2]) {
    const run = await runReference(files, options)
    t.is(run.exitCode, 0, `round ${round}: ${run.stderr}`)
    t.is(run.stdout, want, `round ${round}`)
  }
  t.deepEqual(await hostTree(dir), [
    'files-rs/',
    'files-rs/a/',
    'files-rs/a/b/',
    'files-rs/a/b/big.bin 65536',
    'files-rs/a/moved/',
    'files-rs/data.bin 300',
    'files-rs/notes.txt 37',
    'seed.txt 26',
  ])
  const notes = await readFile(join(dir, 'files-rs', 'notes.txt'), 'utf8')
  t.is(notes, 'first line\nsecond line\nappended line\n')
})

test('without a preopened directory the file programs fail cleanly', async (t) => {
  const fsops = await runReference(await buildGuest('fsops'))
  t.is(fsops.exitCode, 1)
  t.is(
    fsops.stdout,
    'clock after 2020: yes\nmkdir fsops: ENOTCAPABLE\nfsops: cannot create /data/fsops, stopping\n',
  )
  const files = await runReference(await buildGuest('files'))
  t.is(files.exitCode, 1)
  t.regex(files.stderr, /^files: /m)
})
