/**
 * Real C and Rust programs, run under node:wasi (the reference runtime, on a
 * temp copy of the seed) and under WasiHost (on a virtual disk seeded from the
 * same directory): same stdout, exit code and final directory tree.
 */
import { join } from 'node:path'
import test from 'ava'
import type { RunOptions } from './guest-runner.ts'
import {
  loadFixture,
  makeSeed,
  readTree,
  readTreeWithTimes,
  removeAll,
  runReference,
  runVirtual,
  tempDir,
} from './guest-runner.ts'

const dirs: string[] = []
let seed: string

test.before(async () => {
  seed = await makeSeed()
  dirs.push(seed)
})

test.after.always(() => removeAll(...dirs))

const cases: { fixture: string; options: RunOptions; title: string }[] = [
  {
    fixture: 'fs_ops.c',
    title: 'a C program that works files and directories hard',
    options: { args: ['fs_ops', '/sandbox'] },
  },
  {
    fixture: 'stdio_env.c',
    title: 'a C program using args, env, clocks, random and stdin',
    options: {
      args: ['stdio_env', '7', 'two words', 'quote"d', ''],
      env: [
        ['GREETING', 'hello there'],
        ['EMPTY', ''],
        ['UNICODE', 'ünï'],
      ],
      stdin: 'first line\nsecond\n\nlast line without newline',
    },
  },
  {
    fixture: 'fs_walk.rs',
    title: 'a Rust program using std::fs',
    options: { args: ['fs_walk', '/sandbox'], env: [['GREETING', 'from rust']] },
  },
]

for (const { fixture, options, title } of cases) {
  test(`${title} (${fixture}) gives node:wasi's stdout, exit code and final tree`, async (t) => {
    const module = await loadFixture(fixture)
    const reference = await runReference(module, seed, options)
    dirs.push(join(reference.dir, '..'))
    const ours = await runVirtual(module, seed, options)
    t.is(ours.stdout, reference.stdout)
    t.is(ours.exitCode, reference.exitCode)
    const exported = await tempDir('export')
    dirs.push(exported)
    await ours.disk.exportTo(exported)
    t.deepEqual(await readTree(exported), await readTree(reference.dir))
    t.true(reference.stdout.length > 100, 'the program printed its report')
  })
}

test('running a guest never changes the host seed directory', async (t) => {
  const before = await readTreeWithTimes(seed)
  const module = await loadFixture('fs_ops.c')
  const run = await runVirtual(module, seed, { args: ['fs_ops', '/sandbox'] })
  t.is(run.exitCode, 0)
  t.true(run.disk.lookup('/dir2/a') !== undefined, 'the guest did change its virtual disk')
  t.deepEqual(await readTreeWithTimes(seed), before)
})

test("Rust's remove_dir_all, which deletes while listing, empties trees on the virtual disk", async (t) => {
  // node:wasi loses entries in this pattern (its readdir cookies shift), so this one runs only here.
  const module = await loadFixture('fs_walk.rs')
  const run = await runVirtual(module, seed, { args: ['fs_walk', '/sandbox', 'std-remove'] })
  t.is(run.exitCode, 5)
  t.regex(run.stdout, /== after remove_dir_all\nlog\.txt .*\nnumbers-copy\.txt .*\nrenamed\.txt .*\n/)
  t.is(run.disk.lookup('/rust/a'), undefined)
})
