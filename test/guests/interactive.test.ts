import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { buildGuest } from '../../scripts/build-guests.ts'
import { dataDir } from './data-dir.ts'
import { GuestSession } from './guest-session.ts'
import { runReference } from './reference-runtime.ts'

const wasm = await buildGuest('interactive')
const reply =
  /^#(\d+) hash=([0-9a-f]{16}) journal=(\d+) mem=(\d+) rand=[0-9a-f]{4} uptime_ms=(\d+) echo=(.*)$/

function parseReply(line: string | undefined) {
  const m = reply.exec(line ?? '')
  if (m === null) throw new Error(`not a reply line: ${line}`)
  return {
    n: Number(m[1]),
    hash: m[2]!,
    journal: Number(m[3]),
    mem: Number(m[4]),
    uptime: Number(m[5]),
    echo: m[6],
  }
}

test('each line is answered with its count, the state hash and the journal length', async (t) => {
  const dir = await dataDir(t)
  const run = await runReference(wasm, {
    dirs: { '/data': dir },
    stdin: 'hello\nsecond line\nhistory\nquit\nnever read\n',
  })
  t.is(run.exitCode, 0)
  const out = run.stdout.trimEnd().split('\n')
  t.regex(out[0]!, /^interactive ready: lines=0 hash=[0-9a-f]{16}$/)
  const first = parseReply(out[1])
  const second = parseReply(out[2])
  t.like(first, { n: 1, mem: 6, echo: 'hello' })
  t.like(second, { n: 2, mem: 6 + 12, echo: 'second line' })
  t.not(first.hash, second.hash)
  t.is(out[3], 'history 3 lines, 26 bytes')
  t.is(out[4], 'bye after 4 lines')
  t.is(out.length, 5)

  // The journal on the virtual disk holds one entry per line with the hash the guest replied with,
  // and the reported journal length is its size after that entry.
  const journal = (await readFile(join(dir, 'journal.txt'), 'utf8')).split('\n').filter(Boolean)
  t.is(journal.length, 4)
  t.true(journal[0]!.startsWith(`1 ${first.hash} `) && journal[0]!.endsWith(' hello'))
  t.true(journal[1]!.startsWith(`2 ${second.hash} `))
  t.is(first.journal, journal[0]!.length + 1)
  t.is(second.journal, journal[0]!.length + journal[1]!.length + 2)

  // state.bin: magic "ISTA", version 1, line count, hash of the last line.
  const state = await readFile(join(dir, 'state.bin'))
  t.is(state.length, 24)
  t.is(state.toString('latin1', 0, 4), 'ISTA')
  t.is(state.readBigUInt64LE(8), 4n)
  t.is(journal[3]!.split(' ')[1], state.readBigUInt64LE(16).toString(16).padStart(16, '0'))
})

test('exit 7 ends the guest with exit code 7 and reads nothing after it', async (t) => {
  const dir = await dataDir(t)
  const run = await runReference(wasm, { dirs: { '/data': dir }, stdin: 'one\nexit 7\ntwo\n' })
  t.is(run.exitCode, 7)
  t.is(run.stdout.trimEnd().split('\n').at(-1), 'exit 7')
  const journal = await readFile(join(dir, 'journal.txt'), 'utf8')
  t.is(journal.trimEnd().split('\n').length, 2)
})

test('end of input, even after an unterminated line, exits 0', async (t) => {
  const dir = await dataDir(t)
  const run = await runReference(wasm, { dirs: { '/data': dir }, stdin: 'a\nb' })
  t.is(run.exitCode, 0)
  const out = run.stdout.trimEnd().split('\n')
  t.is(parseReply(out[2]).echo, 'b')
  t.is(out.at(-1), 'eof after 2 lines')
})

test('the state on /data carries over to the next run', async (t) => {
  const dir = await dataDir(t)
  await runReference(wasm, { dirs: { '/data': dir }, stdin: 'a\nb\nc\n' })
  const run = await runReference(wasm, { dirs: { '/data': dir }, stdin: 'd\n' })
  const out = run.stdout.trimEnd().split('\n')
  t.regex(out[0]!, /^interactive ready: lines=3 /)
  t.is(parseReply(out[1]).n, 4)
  const journal = await readFile(join(dir, 'journal.txt'), 'utf8')
  t.is(journal.trimEnd().split('\n').length, 4)
})

test('clocks and random make two runs on the same input differ', async (t) => {
  const [a, b] = await Promise.all([dataDir(t), dataDir(t)])
  const first = await runReference(wasm, { dirs: { '/data': a }, stdin: 'same\n' })
  const second = await runReference(wasm, { dirs: { '/data': b }, stdin: 'same\n' })
  t.not(parseReply(first.stdout.split('\n')[1]).hash, parseReply(second.stdout.split('\n')[1]).hash)
})

test('grow makes linear memory grow and sleep waits', async (t) => {
  const dir = await dataDir(t)
  const small = await runReference(wasm, { dirs: { '/data': dir }, stdin: 'x\n' })
  const run = await runReference(wasm, { dirs: { '/data': dir }, stdin: 'grow 8192\nsleep 30\ny\n' })
  const out = run.stdout.trimEnd().split('\n')
  t.is(out[1], 'grew 8192 KiB, total 8192 KiB in 1 blocks')
  t.is(out[2], 'slept 30 ms')
  t.true(parseReply(out[3]).uptime >= 30)
  t.true(run.memoryBytes >= small.memoryBytes + 8 * 1024 * 1024, `${run.memoryBytes} vs ${small.memoryBytes}`)
})

test('over a pipe, each reply arrives before the next line is sent', async (t) => {
  const dir = await dataDir(t)
  const guest = new GuestSession(wasm, { dirs: { '/data': dir } })
  t.teardown(() => guest.kill())
  t.regex(await guest.next(), /^interactive ready: lines=0 /)
  t.like(parseReply(await guest.ask('one')), { n: 1, echo: 'one' })
  t.like(parseReply(await guest.ask('two')), { n: 2, echo: 'two' })
  t.is(await guest.ask('exit 3'), 'exit 3')
  t.like(await guest.end(), { exitCode: 3, rest: [] })
})
