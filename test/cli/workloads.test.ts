/**
 * The workload commands run as a user runs them (a child process per command) against a real
 * control server on a temporary socket: what they print, what they ask the agent, how they fail.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import type { WorkloadSummary } from '../../src/agent/control/index.ts'
import { TOKEN } from '../agent/control/fake-agent.ts'
import { cli, serve } from './fixtures/cli-harness.ts'

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'us-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const lines = (text: string | Buffer) => text.toString().trimEnd().split('\n')

test('ps prints a table of the workloads: replicas, primary and site, epoch, last failover', async (t) => {
  const { client, socket } = await serve(t)
  await client.run({ name: 'kv', image: '/images/kv.wasm', replicas: 3 })
  await client.run({ name: 'web', image: '/images/web.wasm', replicas: 2 })
  await client.failover('kv', { to: 'peer-2' })

  const ps = await cli(['ps', '--socket', socket])
  t.is(ps.code, 0, ps.stderr)
  const [header, ...rows] = lines(ps.stdout)
  t.regex(header!, /^NAME +STATE +REPL +PRIMARY +EPOCH +SEQ +LAG +UP +FAILOVER$/)
  t.is(rows.length, 2)
  const kv = rows.find((r) => r.startsWith('kv '))!.split(/ {2,}/)
  t.deepEqual(kv.slice(0, 5), ['kv', 'running', '3/3', 'peer-2 site-2', '2'])
  t.is(kv.at(-1), '42ms', 'the last failover took 42 ms')
  const web = rows.find((r) => r.startsWith('web '))!.split(/ {2,}/)
  t.deepEqual(web.slice(0, 5), ['web', 'running', '2/2', 'peer-0 site-0', '1'])
  t.is(web.at(-1), '-', 'no failover yet')
  t.true(
    lines(ps.stdout).every((l) => l.length <= 80),
    ps.stdout.toString(),
  )
})

test('ps fits 80 columns with long names, real peer ids and large numbers; --json keeps them whole', async (t) => {
  const { agent, socket } = await serve(t)
  const longName = `a-very-long-workload-name-${'x'.repeat(37)}`
  const peerId = (n: number) => `12D3KooWQyzHz6G8RtB2o1YXG7iHbLxSp4bNnc7s9Ve3zK8dJmF${n}`
  const replica = (n: number, role: 'primary' | 'shadow') => ({
    peerId: peerId(n),
    site: `building-${n}-basement-lab-with-a-long-name`,
    role,
    epoch: 123_456,
    committedSeq: 987_654_321,
    appliedSeq: 987_654_000,
    lagEntries: role === 'primary' ? null : 321_000,
    lagMs: role === 'primary' ? null : 3_725_000,
    digest: 'agree' as const,
    divergedAtSeq: null,
    reachable: true,
    uptimeMs: 9 * 86_400_000,
  })
  const workload: WorkloadSummary = {
    name: longName,
    owner: 'alice',
    state: 'degraded',
    replicasWanted: 15,
    replicas: [replica(1, 'primary'), replica(2, 'shadow')],
    primary: peerId(1),
    epoch: 123_456,
    committedSeq: 987_654_321,
    startedAt: 0,
    uptimeMs: 99 * 86_400_000,
    lastFailover: {
      at: 0,
      from: peerId(2),
      to: peerId(1),
      epoch: 123_456,
      reason: 'failure',
      tookMs: 61_000,
    },
  }
  agent.listed = [workload, { ...workload, name: 'kv' }]

  const ps = await cli(['ps', '--socket', socket])
  t.is(ps.code, 0, ps.stderr)
  for (const line of lines(ps.stdout)) t.true(line.length <= 80, `${line.length} columns: ${line}`)
  const rows = lines(ps.stdout).slice(1)
  t.is(rows.length, 2)
  t.regex(rows[0]!, /^a-very-… +degraded +2\/15 +…8dJmF1 /, 'the long name is cut, the rest stays')
  t.regex(rows[1]!, /^kv +degraded/)
  t.regex(rows[0]!, /987654321/)

  const json = await cli(['ps', '--json', '--socket', socket])
  t.is(json.code, 0, json.stderr)
  t.deepEqual(JSON.parse(json.stdout.toString()), { workloads: agent.listed })
})

test('ps --json prints the raw response; an empty agent says how to start a workload', async (t) => {
  const { client, socket } = await serve(t)
  const empty = await cli(['ps', '--socket', socket])
  t.is(empty.code, 0, empty.stderr)
  t.regex(empty.stdout.toString(), /no workloads .*understudy run/)

  await client.run({ name: 'kv', image: '/images/kv.wasm', replicas: 3 })
  const ps = await cli(['ps', '--json', '--socket', socket])
  t.is(ps.code, 0, ps.stderr)
  t.deepEqual(JSON.parse(ps.stdout.toString()), { workloads: await client.workloads() })
})

test('run sends the absolute image path, the args after --, the env, the replicas and the manifest', async (t) => {
  const { agent, socket } = await serve(t)
  const dir = tempDir(t)
  writeFileSync(join(dir, 'guest.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d]))
  writeFileSync(join(dir, 'kv.manifest.json'), '{"manifest":{},"signer":"x","signature":"y"}')
  const run = await cli(
    [
      'run',
      'guest.wasm',
      '--name',
      'kv',
      '--replicas',
      '2',
      '--env',
      'A=1',
      '--env',
      'B=x=y',
      '--manifest',
      'kv.manifest.json',
      '--socket',
      socket,
      '--',
      '--flag',
      'value with spaces',
    ],
    { cwd: dir },
  )
  t.is(run.code, 0, run.stderr)
  t.deepEqual(agent.runRequests, [
    {
      name: 'kv',
      image: join(dir, 'guest.wasm'),
      replicas: 2,
      args: ['--flag', 'value with spaces'],
      env: { A: '1', B: 'x=y' },
      manifest: Buffer.from('{"manifest":{},"signer":"x","signature":"y"}').toString('base64'),
    },
  ])
  t.deepEqual(lines(run.stdout), [
    'kv: running, 2 of 2 replicas, epoch 1',
    '  primary  peer-0  site site-0',
    '  shadow   peer-1  site site-1',
  ])
  t.is(run.stderr, '')
})

test('run says loudly when fewer replicas than asked were placed', async (t) => {
  const { agent, socket } = await serve(t)
  const dir = tempDir(t)
  writeFileSync(join(dir, 'guest.wasm'), 'wasm')
  agent.placeAtMost = 1
  const run = await cli(['run', join(dir, 'guest.wasm'), '--name', 'kv', '--socket', socket])
  t.is(run.code, 0, run.stderr)
  t.is(agent.runRequests[0]?.replicas, 3, 'three replicas by default')
  t.regex(run.stdout.toString(), /^kv: running, 1 of 3 replicas/)
  t.regex(run.stderr, /WARNING: only 1 of 3 replicas of kv were placed.*understudy explain kv/)
})

test('run refuses a missing image or a bad name before asking the agent', async (t) => {
  const { agent, socket } = await serve(t)
  const missing = await cli(['run', '/nonexistent/guest.wasm', '--name', 'kv', '--socket', socket])
  t.is(missing.code, 70)
  t.regex(missing.stderr, /\/nonexistent\/guest\.wasm is not a file.*\[ERR_USAGE\]/)
  const badName = await cli(['run', '/nonexistent/guest.wasm', '--name', 'Bad Name', '--socket', socket])
  t.is(badName.code, 2)
  t.regex(badName.stderr, /--name <name>.*a-z 0-9/)
  t.deepEqual(agent.runRequests, [])
})

test('failover prints from → to, the epoch and the time; explain and stop print what the agent did', async (t) => {
  const { agent, client, socket } = await serve(t)
  await client.run({ name: 'kv', image: '/images/kv.wasm', replicas: 3 })

  // A unique part of a peer id, as ps shows it, is enough.
  const failover = await cli(['failover', 'kv', '--to', '2', '--socket', socket])
  t.is(failover.code, 0, failover.stderr)
  t.is(failover.stdout.toString(), 'kv: primary peer-0 → peer-2, epoch 2, took 42 ms\n')
  t.is((await client.workload('kv')).primary, 'peer-2')

  const explain = await cli(['explain', 'kv', '--socket', socket])
  t.is(explain.code, 0, explain.stderr)
  const text = lines(explain.stdout)
  t.regex(text[0]!, /^kv: 3 replicas in 3 sites \(decided 1970-01-01T00:00:02\.000Z, .* ago\)$/)
  t.true(text.includes('chosen as primary: peer-2 (site site-2, org physics)'), explain.stdout.toString())
  t.true(text.includes('chosen as shadow: peer-0 (site site-0, org physics)'))
  t.is(text.filter((l) => l === '  - distinct site').length, 3)

  const stop = await cli(['stop', 'kv', '--keep-data', '--socket', socket])
  t.is(stop.code, 0, stop.stderr)
  t.is(stop.stdout.toString(), "kv: stopped (replicas' data kept)\n")
  t.deepEqual(
    agent.calls.map((c) => c.route),
    ['run', 'workload', 'failover', 'workload', 'explain', 'stop'],
  )
})

test('status and peers describe the agent and its peers; peers --json is the raw response', async (t) => {
  const { client, socket } = await serve(t)
  const status = await cli(['status', '--socket', socket])
  t.is(status.code, 0, status.stderr)
  t.deepEqual(lines(status.stdout), [
    'agent 12D3KooWSelf',
    '  site lab-a, org physics, version 0.1.0',
    '  up 5.0s, 2 peers connected, hosting 0 workloads',
    `  control API on ${socket}`,
  ])

  const peers = await cli(['peers', '--socket', socket])
  t.is(peers.code, 0, peers.stderr)
  const [header, self, other] = lines(peers.stdout)
  t.regex(header!, /^PEER +SITE +ORG +STATE +CPUS +FREE\/MEM +RTT +HOSTING$/)
  t.regex(self!, /^\*…oWSelf +lab-a +physics +idle +8 +11\.7G\/16\.0G +0\.0ms +-$/)
  t.regex(other!, /^ …WOther +lab-b +physics +idle +8 +11\.7G\/16\.0G +1\.5ms +-$/)

  const json = await cli(['peers', '--json', '--socket', socket])
  t.deepEqual(JSON.parse(json.stdout.toString()), { peers: await client.peers() })
})

test('an error from the agent prints its code, message and reasons, and exits 70', async (t) => {
  const { client, socket } = await serve(t)
  await client.run({ name: 'locked-kv', image: '/images/kv.wasm', replicas: 2 })
  const refused = await cli(['failover', 'locked-kv', '--socket', socket])
  t.is(refused.code, 70)
  t.is(
    refused.stderr,
    'error ERR_FORBIDDEN: policy refuses a failover of locked-kv\n  - data:owner-only: only the owner may move it\n',
  )
  t.is(refused.stdout.length, 0)

  const unknown = await cli(['stop', 'nope', '--socket', socket])
  t.is(unknown.code, 70)
  t.regex(unknown.stderr, /^error ERR_UNKNOWN_WORKLOAD: no workload named nope/)
})

test('an unreachable agent: non-zero exit, the address tried and how to start the agent', async (t) => {
  const dir = tempDir(t)
  const socket = join(dir, 'none.sock')
  const run = await cli(['ps', '--socket', socket])
  t.is(run.code, 70)
  t.true(run.stderr.includes(`no understudy agent answers on ${socket} (from --socket)`), run.stderr)
  t.regex(run.stderr, /Start it with `understudy agent --config /)
  t.regex(run.stderr, /\[ERR_AGENT_UNREACHABLE\]/)

  // No flags and no configuration: the agent's default data directory under $HOME.
  const home = await cli(['status'], { env: { HOME: dir } })
  t.is(home.code, 70)
  const expected = join(dir, '.local', 'state', 'understudy', 'control.sock')
  t.true(home.stderr.includes(`on ${expected} (from the default data directory`), home.stderr)
})

test('without --socket the CLI looks where the agent listens: $UNDERSTUDY_CONTROL_SOCKET, else the config', async (t) => {
  const { socket } = await serve(t)
  const fromEnv = await cli(['status'], { env: { UNDERSTUDY_CONTROL_SOCKET: socket, HOME: '/nonexistent' } })
  t.is(fromEnv.code, 0, fromEnv.stderr)
  t.regex(fromEnv.stdout.toString(), /^agent 12D3KooWSelf/)

  // The config's dataDir holds control.sock, as `understudy agent --config` would create it.
  const dir = tempDir(t)
  const config = join(dir, 'agent.json')
  writeFileSync(config, JSON.stringify({ dataDir: dirname(socket) }))
  const fromConfig = await cli(['status', '--config', config], { env: { HOME: '/nonexistent' } })
  t.is(fromConfig.code, 0, fromConfig.stderr)
  t.regex(fromConfig.stdout.toString(), /^agent 12D3KooWSelf/)
  const fromConfigEnv = await cli(['status'], { env: { UNDERSTUDY_CONFIG: config, HOME: '/nonexistent' } })
  t.is(fromConfigEnv.code, 0, fromConfigEnv.stderr)

  // The hint names the config to start the agent with.
  writeFileSync(config, JSON.stringify({ dataDir: join(dir, 'elsewhere') }))
  const missing = await cli(['status', '--config', config], { env: { HOME: '/nonexistent' } })
  t.is(missing.code, 70)
  t.true(missing.stderr.includes(`from the config ${config}`), missing.stderr)
  t.true(missing.stderr.includes(`understudy agent --config ${config}\``), missing.stderr)
})

test('--host/--port/--token-file reach an agent on loopback TCP with its token', async (t) => {
  const { server } = await serve(t, { host: '127.0.0.1', port: 0, token: TOKEN })
  const port = String((server.address as { port: number }).port)
  const dir = tempDir(t)
  const tokenFile = join(dir, 'control.token')
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 })
  const ok = await cli(['status', '--host', '127.0.0.1', '--port', port, '--token-file', tokenFile])
  t.is(ok.code, 0, ok.stderr)
  t.true(ok.stdout.toString().includes(`control API on 127.0.0.1:${port}`))

  writeFileSync(tokenFile, 'not-the-token-of-this-agent')
  const refused = await cli(['status', '--host', '127.0.0.1', '--port', port, '--token-file', tokenFile])
  t.is(refused.code, 70)
  t.regex(refused.stderr, /^error ERR_UNAUTHORIZED: /)
})
