import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { buildGuest } from '../../scripts/build-guests.ts'
import { dataDir } from './data-dir.ts'
import { GuestSession } from './guest-session.ts'
import { runReference } from './reference-runtime.ts'

const wasm = await buildGuest('kv')

async function session(dir: string, requests: string[]) {
  const run = await runReference(wasm, { dirs: { '/data': dir }, stdin: `${requests.join('\n')}\n` })
  return { ...run, replies: run.stdout.split('\n').slice(0, -1) }
}

test('a SET/GET/INCR/DEL session gets exactly the expected replies', async (t) => {
  const dir = await dataDir(t)
  const { exitCode, replies, stderr } = await session(dir, [
    'SET a 1',
    'SET greeting hello wide world',
    'GET a',
    'GET greeting',
    'GET missing',
    'INCR a',
    'INCR a 10',
    'INCR fresh',
    'INCR greeting',
    'INCR a -20',
    'DEL a',
    'DEL a',
    'KEYS',
    'set lower case',
    'get lower',
    'PING',
    'FROB x',
    '',
    'SET',
    'INCR n x',
  ])
  t.is(exitCode, 0, stderr)
  t.deepEqual(replies, [
    'OK',
    'OK',
    '1',
    'hello wide world',
    'NIL',
    '2',
    '12',
    '1',
    'ERR value is not an integer',
    '-8',
    '1',
    '0',
    '2 fresh greeting',
    'OK',
    'case',
    'PONG',
    'ERR unknown command FROB',
    'ERR empty request',
    'ERR usage: SET key value',
    'ERR usage: INCR key [n]',
  ])
})

test('data persists across two runs through /data/kv.db', async (t) => {
  const dir = await dataDir(t)
  const first = await session(dir, ['SET x 41', 'INCR x', 'SET y why not', 'SNAPSHOT', 'SET z saved at eof'])
  t.deepEqual(first.replies, ['OK', '42', 'OK', 'OK 2 24', 'OK'])
  t.is(await readFile(join(dir, 'kv.db'), 'utf8'), 'kvdb 1 3\nx 42\ny why not\nz saved at eof\n')
  const second = await session(dir, ['GET x', 'GET y', 'GET z', 'KEYS', 'DEL y', 'QUIT', 'GET x'])
  t.is(second.exitCode, 0)
  t.deepEqual(second.replies, ['42', 'why not', 'saved at eof', '3 x y z', '1', 'BYE'])
  t.is(await readFile(join(dir, 'kv.db'), 'utf8'), 'kvdb 1 2\nx 42\nz saved at eof\n')
})

test('every key survives thousands of inserts and deletes', async (t) => {
  const dir = await dataDir(t)
  const requests: string[] = []
  for (let i = 0; i < 3000; i++) requests.push(`SET k${i} v${i * 7}`)
  for (let i = 0; i < 3000; i += 3) requests.push(`DEL k${i}`)
  for (let i = 0; i < 3000; i++) requests.push(`GET k${i}`)
  const { replies } = await session(dir, requests)
  const gets = replies.slice(4000)
  t.is(gets.length, 3000)
  const wrong = gets.filter((got, i) => got !== (i % 3 === 0 ? 'NIL' : `v${i * 7}`))
  t.deepEqual(wrong, [])
})

test('STATS reports a digest of the contents and the request clock', async (t) => {
  const [a, b] = await Promise.all([dataDir(t), dataDir(t)])
  const before = Date.now()
  const one = await session(a, ['SET p 1', 'SET q 2', 'SET r 3', 'DEL r', 'STATS'])
  const other = await session(b, ['SET q 2', 'SET p 1', 'STATS'])
  const stats = /^entries=2 digest=([0-9a-f]{16}) requests=(\d+) snapshots=0 time_ms=(\d+) uptime_ms=\d+$/
  const m1 = stats.exec(one.replies[4]!)
  const m2 = stats.exec(other.replies[2]!)
  if (m1 === null || m2 === null) return t.fail(`${one.replies[4]} / ${other.replies[2]}`)
  t.is(m1[1], m2[1], 'equal contents give equal digests, whatever the history')
  t.is(m1[2], '5')
  t.true(Math.abs(Number(m1[3]) - before) < 60_000, `time_ms ${m1[3]} is the realtime clock`)
})

test('a corrupt kv.db is refused with exit code 65', async (t) => {
  const dir = await dataDir(t)
  await writeFile(join(dir, 'kv.db'), 'not a database\n')
  const run = await session(dir, ['GET x'])
  t.is(run.exitCode, 65)
  t.deepEqual(run.replies, [])
  t.regex(run.stderr, /kv: \/data\/kv\.db is not a kv database/)
})

test('over a pipe, kv answers each request before reading the next', async (t) => {
  const dir = await dataDir(t)
  const kv = new GuestSession(wasm, { dirs: { '/data': dir } })
  t.teardown(() => kv.kill())
  t.is(await kv.ask('INCR hits'), '1')
  t.is(await kv.ask('INCR hits'), '2')
  t.is(await kv.ask('GET hits'), '2')
  t.like(await kv.end(), { exitCode: 0, rest: [] })
  t.is(await readFile(join(dir, 'kv.db'), 'utf8'), 'kvdb 1 1\nhits 2\n')
})
