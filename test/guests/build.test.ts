import { readFile, stat } from 'node:fs/promises'
import test from 'ava'
import { buildGuests, guests, guestWasmPath } from '../../scripts/build-guests.ts'

test('every guest builds into a WASI command module', async (t) => {
  const built = await buildGuests()
  t.deepEqual(Object.keys(built).sort(), guests.map((g) => g.name).sort())
  for (const spec of guests) {
    const path = built[spec.name]
    t.is(path, guestWasmPath(spec.name))
    const module = await WebAssembly.compile(await readFile(path))
    const exports = WebAssembly.Module.exports(module).map((e) => e.name)
    t.true(exports.includes('_start'), `${spec.name} exports _start`)
    t.true(exports.includes('memory'), `${spec.name} exports its memory`)
    const modules = new Set(WebAssembly.Module.imports(module).map((i) => i.module))
    t.deepEqual([...modules], ['wasi_snapshot_preview1'], `${spec.name} imports only WASI preview 1`)
  }
})

test('a build with nothing changed leaves the modules untouched', async (t) => {
  const first = await buildGuests()
  const before = await Promise.all(Object.values(first).map(async (p) => (await stat(p)).mtimeMs))
  const started = performance.now()
  const lines: string[] = []
  const second = await buildGuests({ log: (line) => lines.push(line) })
  const elapsed = performance.now() - started
  const after = await Promise.all(Object.values(second).map(async (p) => (await stat(p)).mtimeMs))
  t.deepEqual(after, before)
  t.is(lines.length, guests.length)
  t.true(
    lines.every((l) => l.includes('unchanged')),
    lines.join('\n'),
  )
  t.true(elapsed < 3000, `a cached build took ${elapsed} ms`)
})
