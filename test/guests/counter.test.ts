import { readFile } from 'node:fs/promises'
import test from 'ava'
import binaryen from 'binaryen'
import { buildGuest } from '../../scripts/build-guests.ts'
import { GuestSession } from './guest-session.ts'
import { runReference } from './reference-runtime.ts'

const wasm = await buildGuest('counter')

/** What the guest's globals hold after each line: word, byte and FNV-1a 32 counts over all lines so far. */
function expectedCounts(lines: string[]) {
  let words = 0
  let bytes = 0
  let sum = 0x811c9dc5
  return lines.map((line) => {
    const data = Buffer.from(line)
    bytes += data.length
    words += line.split(/[ \t\r]+/).filter(Boolean).length
    for (const b of data) sum = Math.imul(sum ^ b, 0x01000193) >>> 0
    return { words, bytes, sum: sum.toString(16) }
  })
}

test('counter counts words, bytes and a checksum of every line, with a clock and a dice roll', async (t) => {
  const input = ['hello world', '  two  words here ', 'total', 'last line without newline']
  const run = await runReference(wasm, { stdin: input.join('\n') })
  t.is(run.exitCode, 0)
  const out = run.stdout.trimEnd().split('\n')
  const counts = expectedCounts(input)
  t.is(out[0], 'counter ready')
  const rolls: number[] = []
  for (const [i, n] of [0, 1, 3].entries()) {
    const c = counts[n]!
    const m = new RegExp(
      `^line ${n + 1} words=${c.words} bytes=${c.bytes} sum=${c.sum} roll=([1-6]) elapsed_ms=\\d+$`,
    ).exec(out[[1, 2, 4][i]!]!)
    t.truthy(m, out[[1, 2, 4][i]!])
    rolls.push(Number(m?.[1]))
  }
  const atTotal = counts[2]!
  t.is(
    out[3],
    `total lines=3 words=${atTotal.words} bytes=${atTotal.bytes} sum=${atTotal.sum} rolls=${rolls[0]! + rolls[1]!}`,
  )
  const last = counts[3]!
  t.is(
    out[5],
    `total lines=4 words=${last.words} bytes=${last.bytes} sum=${last.sum} rolls=${rolls.reduce((a, b) => a + b)}`,
  )
  t.is(out.length, 6)
})

test('counter exits with the code asked for, and 0 on quit', async (t) => {
  const exit = await runReference(wasm, { stdin: 'a\nexit 9\nb\n' })
  t.is(exit.exitCode, 9)
  t.is(exit.stdout.trimEnd().split('\n').at(-1), 'exit 9')
  const quit = await runReference(wasm, { stdin: 'quit\nb\n' })
  t.is(quit.exitCode, 0)
  t.is(quit.stdout, 'counter ready\nbye\n')
})

test('a line longer than the read buffer is counted whole', async (t) => {
  const run = await runReference(wasm, { stdin: `${'x'.repeat(10_000)}\ny\n` })
  t.regex(run.stdout, /^line 1 words=1 bytes=10000 /m)
  t.regex(run.stdout, /^total lines=2 words=2 bytes=10001 /m)
})

test('counter keeps its counters in mutable wasm globals, so checkpoints must include them', async (t) => {
  const module = binaryen.readBinary(await readFile(wasm))
  try {
    let mutableI64 = 0
    for (let i = 0; i < module.getNumGlobals(); i++) {
      const info = binaryen.getGlobalInfo(module.getGlobalByIndex(i))
      if (info.mutable && info.type === binaryen.i64) mutableI64++
    }
    // words, bytes, rollSum and startedMs at least
    t.true(mutableI64 >= 4, `${mutableI64} mutable i64 globals`)
  } finally {
    module.dispose()
  }
})

test('over a pipe, counter answers each line as it comes', async (t) => {
  const guest = new GuestSession(wasm)
  t.teardown(() => guest.kill())
  t.is(await guest.next(), 'counter ready')
  t.regex(await guest.ask('one two'), /^line 1 words=2 bytes=7 /)
  t.regex(await guest.ask('total'), /^total lines=2 words=3 /)
  const { exitCode, rest } = await guest.end()
  t.is(exitCode, 0)
  t.regex(rest.join('\n'), /^total lines=2 words=3 bytes=12 /)
})
