/**
 * `logs`, `send` and `run --attach` as a user runs them: the guest's released output printed byte
 * for byte (also across an agent restart), and stdin delivered in order with its end.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { ControlServer } from '../../src/agent/control/index.ts'
import { CliProcess, cli, serve } from './fixtures/cli-harness.ts'

/** Every byte value, and sequences that are not UTF-8: a decoding CLI would mangle them. */
const BINARY = Buffer.concat([
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from([0xff, 0xfe, 0xc3]),
])

test('logs prints the released output byte for byte, from an offset too', async (t) => {
  const { agent, client, socket } = await serve(t)
  await client.run({ name: 'bin', image: '/images/bin.wasm', replicas: 1 })
  agent.releaseBytes('bin', BINARY.subarray(0, 100))
  agent.releaseBytes('bin', BINARY.subarray(100))

  const all = await cli(['logs', 'bin', '--socket', socket])
  t.is(all.code, 0, all.stderr)
  t.true(all.stdout.equals(BINARY), `got ${all.stdout.length} bytes`)

  const tail = await cli(['logs', 'bin', '--from', '150', '--socket', socket])
  t.is(tail.code, 0, tail.stderr)
  t.true(tail.stdout.equals(BINARY.subarray(150)))
})

test('logs --follow prints new output as it is released, and exits 0 on SIGTERM', async (t) => {
  const { agent, client, socket } = await serve(t)
  await client.run({ name: 'bin', image: '/images/bin.wasm', replicas: 1 })
  agent.releaseBytes('bin', BINARY.subarray(0, 10))

  const follow = new CliProcess(['logs', 'bin', '--follow', '--socket', socket])
  t.teardown(() => follow.child.kill('SIGKILL'))
  await follow.until('the output so far', () => follow.stdout.length >= 10)
  agent.releaseBytes('bin', BINARY.subarray(10, 200))
  await follow.until('the first new chunk', () => follow.stdout.length >= 200)
  agent.releaseBytes('bin', BINARY.subarray(200))
  await follow.until('the second new chunk', () => follow.stdout.length >= BINARY.length)

  follow.child.kill('SIGTERM')
  const done = await follow.exited
  t.is(done.code, 0, done.stderr)
  t.true(done.stdout.equals(BINARY))
})

test('logs --follow ends by itself when the workload stops', async (t) => {
  const { agent, client, socket } = await serve(t)
  await client.run({ name: 'kv', image: '/images/kv.wasm', replicas: 2 })
  agent.release('kv', 'first\n')
  const follow = new CliProcess(['logs', '-f', 'kv', '--socket', socket])
  t.teardown(() => follow.child.kill('SIGKILL'))
  await follow.until('the first line', () => follow.stdout.toString() === 'first\n')
  agent.release('kv', 'last\n')
  await client.stop('kv')
  const done = await follow.exited
  t.is(done.code, 0, done.stderr)
  t.is(done.stdout.toString(), 'first\nlast\n')
})

test('logs --follow rides out an agent restart: nothing lost, nothing repeated', async (t) => {
  const served = await serve(t)
  const { agent, client, socket } = served
  await client.run({ name: 'bin', image: '/images/bin.wasm', replicas: 1 })
  agent.releaseBytes('bin', BINARY.subarray(0, 64))
  const follow = new CliProcess(['logs', 'bin', '--follow', '--socket', socket])
  t.teardown(() => follow.child.kill('SIGKILL'))
  await follow.until('the output so far', () => follow.stdout.length >= 64)

  await served.server.close()
  await follow.until('the notice of the lost agent', () => follow.stderr.includes('lost the agent'))
  agent.releaseBytes('bin', BINARY.subarray(64, 128)) // released while the CLI was away
  const again = await ControlServer.start({
    listen: { socketPath: socket },
    handlers: agent,
    events: agent.hub,
  })
  t.teardown(() => again.close())
  await follow.until('the missed output', () => follow.stdout.length >= 128)
  agent.releaseBytes('bin', BINARY.subarray(128))
  await follow.until('the rest', () => follow.stdout.length >= BINARY.length)

  follow.child.kill('SIGINT')
  const done = await follow.exited
  t.is(done.code, 0, done.stderr)
  t.true(done.stdout.equals(BINARY), `got ${done.stdout.length} bytes`)
  t.regex(done.stderr, /reconnected to the agent/)
})

test('logs of an unknown workload prints the agent error and exits 70, also with --follow', async (t) => {
  const { socket } = await serve(t)
  for (const args of [
    ['logs', 'nope'],
    ['logs', 'nope', '--follow'],
  ]) {
    const run = await cli([...args, '--socket', socket])
    t.is(run.code, 70, args.join(' '))
    t.regex(run.stderr, /^error ERR_UNKNOWN_WORKLOAD: no workload named nope/)
  }
})

test('logs --follow with no agent fails at once with the helpful message instead of retrying', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'us-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const run = await cli(['logs', 'kv', '--follow', '--socket', join(dir, 'none.sock')])
  t.is(run.code, 70)
  t.regex(run.stderr, /no understudy agent answers on .*none\.sock.*understudy agent --config/)
})

test('send pipes its stdin to the workload in order, in pieces, then closes the guest stdin', async (t) => {
  const { agent, client, socket } = await serve(t)
  await client.run({ name: 'kv', image: '/images/kv.wasm', replicas: 3 })
  // Larger than one request may carry, so it must go in several pieces.
  const input = Buffer.from(Array.from({ length: 700_000 }, (_, i) => 'SET k v\n'.charCodeAt(i % 8)))
  const send = await cli(['send', 'kv', '--socket', socket], { stdin: input })
  t.is(send.code, 0, send.stderr)
  t.is(send.stdout.length, 0, 'nothing printed on success')
  const requests = agent.stdinRequests
  t.true(requests.length >= 4, `${requests.length} requests`)
  t.true(Buffer.concat(requests.map((r) => r.bytes)).equals(input))
  t.deepEqual(
    requests.map((r) => r.eof),
    [...Array(requests.length - 1).fill(false), true],
  )
})

test('send TEXT sends one line; the stdin alias with --verbose prints the entry', async (t) => {
  const { agent, client, socket } = await serve(t)
  await client.run({ name: 'kv', image: '/images/kv.wasm', replicas: 3 })
  const send = await cli(['send', 'kv', 'SET', 'a', '1', '--socket', socket])
  t.is(send.code, 0, send.stderr)
  t.is(send.stdout.length, 0)
  t.deepEqual(
    agent.stdinRequests.map((r) => [r.bytes.toString(), r.eof]),
    [['SET a 1\n', false]],
  )
  const verbose = await cli(['stdin', 'kv', '-v', 'GET', 'a', '--socket', socket])
  t.is(verbose.code, 0, verbose.stderr)
  t.regex(verbose.stdout.toString(), /^entry \d+: 6 bytes\n$/)
  const logs = await cli(['logs', 'kv', '--socket', socket])
  t.is(logs.stdout.toString(), 'echo: SET a 1\necho: GET a\n', 'the fake agent echoes stdin to output')
})

test('run --attach prints the summary on stderr, then the output until Ctrl-C', async (t) => {
  const { agent, socket } = await serve(t)
  const dir = mkdtempSync(join(tmpdir(), 'us-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'guest.wasm'), 'wasm')
  const run = new CliProcess([
    'run',
    join(dir, 'guest.wasm'),
    '--name',
    'att',
    '--attach',
    '--socket',
    socket,
  ])
  t.teardown(() => run.child.kill('SIGKILL'))
  await run.until('the summary', () => run.stderr.includes('att: running, 3 of 3 replicas'))
  agent.release('att', 'hello\n')
  await run.until('the output', () => run.stdout.toString() === 'hello\n')
  run.child.kill('SIGINT')
  const done = await run.exited
  t.is(done.code, 0, done.stderr)
  t.is(done.stdout.toString(), 'hello\n')
})
