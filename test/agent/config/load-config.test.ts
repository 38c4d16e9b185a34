import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import test, { type ExecutionContext } from 'ava'
import { type AgentConfig, ENV_OVERRIDES, loadConfig, parseConfig } from '../../../src/agent/config/index.ts'
import { ConfigError, InvalidConfigError } from '../../../src/errors/index.ts'

const ENV = { HOME: '/home/ada' }
const PEER = '12D3KooWLmffyUdsnpYWjHCAnVpsrMwMoi2fxSvqkfG2gGTc2iHa'

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function configFile(t: ExecutionContext, text: string): Promise<string> {
  const file = join(await tempDir(t), 'agent.json')
  await writeFile(file, text)
  return file
}

function invalid(t: ExecutionContext, text: string, env: Record<string, string> = ENV): InvalidConfigError {
  return t.throws(() => parseConfig(text, { file: '/etc/understudy/agent.json', env }), {
    instanceOf: InvalidConfigError,
  })
}

test('an empty file gives the documented defaults', async (t) => {
  for (const text of ['', '{}', '// nothing yet\n']) {
    const file = await configFile(t, text)
    const config = await loadConfig({ path: file, env: ENV, hostname: 'lab-pc-12.physics.example.edu' })
    t.is(config.file, file)
    t.is(config.dataDir, '/home/ada/.local/state/understudy')
    t.deepEqual(config.listen, ['/ip4/0.0.0.0/tcp/0'])
    t.deepEqual(config.bootstrap, [])
    t.true(config.mdns)
    t.is(config.site, 'lab-pc-12')
    t.is(config.org, undefined)
    t.deepEqual(config.control, { kind: 'unix', socket: '/home/ada/.local/state/understudy/control.sock' })
    t.deepEqual(config.replication, {
      heartbeatMs: 100,
      electionTimeoutMs: 1000,
      repairGraceMs: 300_000,
      checkpointEveryEntries: 10_000,
    })
    t.deepEqual(config.hostPolicy, {
      allowUsers: [],
      allowOrgs: [],
      caps: { maxWorkloads: 4, maxMemoryMiB: 2048, cpuShare: 0.5, maxDiskMiB: 10_240 },
      schedule: { idleOnly: false, hours: [] },
      allowWitness: true,
    })
    t.deepEqual(config.log, { level: 'info', format: 'auto' })
    t.deepEqual(config.metrics, { enabled: false, host: '127.0.0.1', port: 9464 })
  }
})

test('the default data directory follows systemd, then XDG, then HOME', (t) => {
  const dataDir = (env: Record<string, string>) => parseConfig('{}', { env }).dataDir
  t.is(
    dataDir({ STATE_DIRECTORY: '/var/lib/understudy', XDG_STATE_HOME: '/x', HOME: '/h' }),
    '/var/lib/understudy',
  )
  t.is(dataDir({ XDG_STATE_HOME: '/x', HOME: '/h' }), '/x/understudy')
  t.is(dataDir({ HOME: '/h' }), '/h/.local/state/understudy')
  const err = t.throws(() => parseConfig('{}', { env: {} }), { instanceOf: InvalidConfigError })
  t.is(err.problems[0]?.path, 'dataDir')
})

test('comments are allowed, and relative paths in the file are relative to the file', async (t) => {
  const file = await configFile(
    t,
    '// lab machine\n{ /* where */ "dataDir": "state", "control": { "socket": "c.sock" } }',
  )
  const config = await loadConfig({ path: file, env: ENV })
  t.is(config.dataDir, join(file, '..', 'state'))
  t.deepEqual(config.control, { kind: 'unix', socket: join(file, '..', 'c.sock') })
})

test('each bad value is reported with its key path and what was found', (t) => {
  const cases: Array<[string, string, string]> = [
    [
      '{"replication": {"heartbeatMs": "fast"}}',
      'replication.heartbeatMs',
      'must be a positive integer, got "fast"',
    ],
    [
      '{"replication": {"electionTimeoutMs": 0}}',
      'replication.electionTimeoutMs',
      'must be a positive integer, got 0',
    ],
    [
      '{"replication": {"heartbeatMs": 500}}',
      'replication.electionTimeoutMs',
      'at least 3 × replication.heartbeatMs',
    ],
    [
      '{"log": {"level": "loud"}}',
      'log.level',
      'must be one of trace, debug, info, warn, error, fatal, got "loud"',
    ],
    ['{"log": {"format": "xml"}}', 'log.format', 'must be one of auto, json, pretty'],
    ['{"listen": ["/ip4/1.2.3.4/tcp/1", "localhost:4000"]}', 'listen[1]', 'is not a valid multiaddr'],
    ['{"listen": "/ip4/0.0.0.0/tcp/1"}', 'listen', 'must be a list'],
    ['{"bootstrap": ["/ip4/10.0.0.1/tcp/4710"]}', 'bootstrap[0]', 'must end in /p2p/<peer id>'],
    ['{"mdns": "yes"}', 'mdns', 'must be true or false, got "yes"'],
    ['{"site": "room 204"}', 'site', 'must be a site name'],
    ['{"labels": {"room": 204}}', 'labels.room', 'must be a string, got 204'],
    ['{"labels": {"a b": "x"}}', 'labels["a b"]', 'bad key name'],
    [
      '{"control": {"port": 70000}}',
      'control.port',
      'must be an integer port number from 1 to 65535, got 70000',
    ],
    ['{"control": {"host": "127.0.0.1"}}', 'control.port', 'is needed when the control API listens on TCP'],
    ['{"control": {"socket": "/run/u.sock", "port": 4000}}', 'control', 'not both'],
    ['{"control": {"host": 5, "port": 4000}}', 'control.host', 'must be a host name or IP address, got 5'],
    ['{"hostPolicy": {"allowUsers": ["bob"]}}', 'hostPolicy.allowUsers[0]', 'must be "*", a user id'],
    ['{"hostPolicy": {"allowOrgs": [""]}}', 'hostPolicy.allowOrgs[0]', 'must be an org name or "*"'],
    [
      '{"hostPolicy": {"caps": {"cpuShare": 1.5}}}',
      'hostPolicy.caps.cpuShare',
      'above 0, at most 1, got 1.5',
    ],
    ['{"hostPolicy": {"caps": {"maxMemoryMiB": 1.5}}}', 'hostPolicy.caps.maxMemoryMiB', 'positive integer'],
    ['{"hostPolicy": {"caps": {"maxWorkloads": -1}}}', 'hostPolicy.caps.maxWorkloads', 'from 0 to 10000'],
    [
      '{"hostPolicy": {"schedule": {"hours": [{"from": 25, "to": 3}]}}}',
      'hostPolicy.schedule.hours[0].from',
      '0 to 23',
    ],
    [
      '{"hostPolicy": {"schedule": {"hours": [{"from": 8, "to": 8}]}}}',
      'hostPolicy.schedule.hours[0]',
      'must differ',
    ],
    ['{"metrics": {"port": -1}}', 'metrics.port', 'from 0 to 65535'],
    [
      '{"replication": {"heartbeatMS": 50}}',
      'replication.heartbeatMS',
      'unknown key (did you mean "heartbeatMs"?)',
    ],
    ['{"heartbeatMs": 50}', 'heartbeatMs', 'unknown key (did you mean replication.heartbeatMs?)'],
    ['{"replication": 5}', 'replication', 'must be an object, got 5'],
    ['[]', '', 'must be a JSON object'],
  ]
  for (const [text, path, fragment] of cases) {
    const err = invalid(t, text)
    t.is(err.code, 'ERR_CONFIG')
    t.true(err instanceof ConfigError)
    t.is(err.problems.length, 1, text)
    t.is(err.problems[0]?.path, path, text)
    t.true(err.message.includes('/etc/understudy/agent.json'), err.message)
    t.true(err.message.includes(`${path === '' ? '(whole file)' : path}: `), err.message)
    t.true(err.message.includes(fragment), `${text} → ${err.message}`)
  }
})

test('every problem is listed at once, each with its line', (t) => {
  const text = [
    '{',
    '  "replication": { "heartbeatMs": "fast" },',
    '  "log": { "level": "loud" },',
    '  "listen": ["nope"],',
    '  "hostPolicy": { "caps": { "cpuShare": 0 } }',
    '}',
  ].join('\n')
  const err = invalid(t, text)
  t.deepEqual(
    err.problems.map((p) => [p.path, p.source]),
    [
      ['listen[0]', 'line 4, column 14'],
      ['replication.heartbeatMs', 'line 2, column 35'],
      ['hostPolicy.caps.cpuShare', 'line 5, column 41'],
      ['log.level', 'line 3, column 21'],
    ],
  )
  t.regex(err.message, /^invalid config in \/etc\/understudy\/agent.json, 4 problems:\n/)
  t.regex(
    err.message,
    /\n {2}- replication\.heartbeatMs: must be a positive integer, got "fast" \(at line 2, column 35\)/,
  )
  t.regex(err.message, /\n {2}- log\.level: .*got "loud" \(at line 3, column 21\)/)
})

test('invalid JSON is reported with the file, line and column', (t) => {
  const cases: Array<[string, string]> = [
    ['{\n  "a": 1,\n  "b": }', ':3:8: invalid JSON: expected a value, found "}"'],
    ['{\n  "a": 1,\n}', ':3:1: invalid JSON: trailing comma before }'],
    [
      '{\n  "a": 1\n  "b": 2\n}',
      `:3:3: invalid JSON: expected ',' or '}' after the value of "a", found "\\""`,
    ],
    ["{ 'a': 1 }", ':1:3: invalid JSON: expected a double-quoted key'],
    ['{ "a": "x\n" }', ':1:10: invalid JSON: string is not closed before the end of the line'],
    ['{ "a": 1, "a": 2 }', ':1:11: invalid JSON: duplicate key "a"'],
    ['{ "a": [1, 2,] }', ':1:14: invalid JSON: trailing comma before ]'],
    ['{ "a": 1 } x', ':1:12: invalid JSON: unexpected "x" after the end of the document'],
    ['{ "a": 1 /* open', ':1:10: invalid JSON: comment opened with /* is never closed'],
    ['{ "a": tru }', ':1:8: invalid JSON: expected a value'],
    ['{ "a": 01 }', `:1:9: invalid JSON: expected ',' or '}'`],
  ]
  for (const [text, expected] of cases) {
    const err = t.throws(() => parseConfig(text, { file: '/etc/understudy/agent.json', env: ENV }), {
      instanceOf: ConfigError,
    })
    t.true(
      err.message.startsWith(`/etc/understudy/agent.json${expected}`),
      `${JSON.stringify(text)} → ${err.message}`,
    )
  }
})

test('a file that cannot be read is a ConfigError naming it', async (t) => {
  const dir = await tempDir(t)
  const missing = join(dir, 'nope.json')
  const err = await t.throwsAsync(loadConfig({ path: missing, env: ENV }), { instanceOf: ConfigError })
  t.true(err.message.includes(`cannot read config file ${missing}`), err.message)
  t.true(err.message.includes('ENOENT'), err.message)

  await mkdir(join(dir, 'sub.json'))
  await t.throwsAsync(loadConfig({ path: join(dir, 'sub.json'), env: ENV }), {
    message: /is not a regular file/,
  })
})

test('a config file every user may write is refused', async (t) => {
  const file = await configFile(t, '{}')
  await chmod(file, 0o666)
  const err = await t.throwsAsync(loadConfig({ path: file, env: ENV }), { instanceOf: ConfigError })
  t.true(err.message.includes(`chmod o-w ${file}`), err.message)
})

test('environment overrides win over the file, and overrides win over both', async (t) => {
  const file = await configFile(
    t,
    JSON.stringify({
      site: 'from-file',
      org: 'physics',
      mdns: true,
      labels: { room: 'B204' },
      replication: { heartbeatMs: 200, repairGraceMs: 60_000 },
      hostPolicy: { caps: { maxWorkloads: 2 } },
      log: { level: 'warn' },
    }),
  )
  const env = {
    ...ENV,
    UNDERSTUDY_SITE: 'from-env',
    UNDERSTUDY_MDNS: 'false',
    UNDERSTUDY_LABELS: 'room=C1, floor=2',
    UNDERSTUDY_LISTEN: '/ip4/0.0.0.0/tcp/4710, /ip6/::/tcp/4710',
    UNDERSTUDY_REPLICATION_HEARTBEAT_MS: '50',
    UNDERSTUDY_HOST_POLICY_CAPS_CPU_SHARE: '0.25',
    UNDERSTUDY_HOST_POLICY_ALLOW_ORGS: '["physics", "*"]',
    UNDERSTUDY_LOG_LEVEL: 'debug',
    UNDERSTUDY_DATA_DIR: '/srv/understudy',
    UNDERSTUDY_ORG: '',
  }
  const config = await loadConfig({ path: file, env, overrides: { log: { level: 'trace' } } })
  t.is(config.site, 'from-env')
  t.is(config.org, 'physics', 'an empty variable counts as unset')
  t.false(config.mdns)
  t.deepEqual(config.labels, { room: 'C1', floor: '2' })
  t.deepEqual(config.listen, ['/ip4/0.0.0.0/tcp/4710', '/ip6/::/tcp/4710'])
  t.deepEqual(config.replication, {
    heartbeatMs: 50,
    electionTimeoutMs: 1000,
    repairGraceMs: 60_000,
    checkpointEveryEntries: 10_000,
  })
  t.is(config.hostPolicy.caps.maxWorkloads, 2, 'the rest of a section keeps the file value')
  t.is(config.hostPolicy.caps.cpuShare, 0.25)
  t.deepEqual(config.hostPolicy.allowOrgs, ['physics', '*'])
  t.is(config.log.level, 'trace')
  t.is(config.dataDir, '/srv/understudy')
})

test('an override left undefined (an unset flag) keeps the file value', (t) => {
  const config = parseConfig('{"dataDir": "/srv/u", "log": {"level": "warn"}}', {
    env: ENV,
    overrides: { dataDir: undefined, log: { level: undefined, format: 'json' } },
  })
  t.is(config.dataDir, '/srv/u')
  t.deepEqual(config.log, { level: 'warn', format: 'json' })
})

test('a bad override is reported as set by overrides', (t) => {
  const err = t.throws(() => parseConfig('{}', { env: ENV, overrides: { metrics: { port: 99_999 } } }), {
    instanceOf: InvalidConfigError,
  })
  t.deepEqual(
    err.problems.map((p) => [p.path, p.source]),
    [['metrics.port', 'overrides']],
  )
  t.true(err.message.endsWith('got 99999 (set by overrides)'), err.message)
})

test('a bad environment value names the variable and the key', (t) => {
  const err = t.throws(
    () =>
      parseConfig('{}', {
        env: { ...ENV, UNDERSTUDY_REPLICATION_HEARTBEAT_MS: 'fast', UNDERSTUDY_LABELS: 'room' },
      }),
    { instanceOf: InvalidConfigError },
  )
  t.deepEqual(
    err.problems.map((p) => [p.path, p.source]),
    [
      ['labels', 'UNDERSTUDY_LABELS'],
      ['replication.heartbeatMs', 'UNDERSTUDY_REPLICATION_HEARTBEAT_MS'],
    ],
  )
  t.true(
    err.message.includes(
      'replication.heartbeatMs: must be a positive integer, got "fast" (from UNDERSTUDY_REPLICATION_HEARTBEAT_MS)',
    ),
    err.message,
  )
})

test('an environment socket replaces TCP control from the file, and the other way round', (t) => {
  const tcp = '{"control": {"host": "127.0.0.1", "port": 4700}}'
  const a = parseConfig(tcp, { env: { ...ENV, UNDERSTUDY_CONTROL_SOCKET: '/run/u.sock' } })
  t.deepEqual(a.control, { kind: 'unix', socket: '/run/u.sock' })
  const b = parseConfig('{"control": {"socket": "/run/u.sock"}}', {
    env: { ...ENV, UNDERSTUDY_CONTROL_PORT: '4701' },
  })
  t.deepEqual(b.control, {
    kind: 'tcp',
    host: '127.0.0.1',
    port: 4701,
    tokenFile: '/home/ada/.local/state/understudy/control.token',
  })
})

test('control on a non-loopback address is refused without an explicit token file', (t) => {
  for (const host of ['0.0.0.0', '192.168.1.20', '::', 'lab-pc-12.example.edu']) {
    const err = invalid(t, JSON.stringify({ control: { host, port: 4700 } }))
    t.is(err.problems[0]?.path, 'control.host')
    t.true(err.message.includes('is not a loopback address'), err.message)
  }
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) {
    const config = parseConfig(JSON.stringify({ control: { host, port: 4700 } }), { env: ENV })
    t.is(config.control.kind, 'tcp')
  }
  const remote = parseConfig(
    JSON.stringify({ control: { host: '0.0.0.0', port: 4700, tokenFile: '/etc/understudy/token' } }),
    { env: ENV },
  )
  t.deepEqual(remote.control, {
    kind: 'tcp',
    host: '0.0.0.0',
    port: 4700,
    tokenFile: '/etc/understudy/token',
  })
})

test('a control socket path longer than a Unix socket allows is refused', (t) => {
  const dataDir = `/tmp/${'d'.repeat(120)}`
  const err = t.throws(() => parseConfig(JSON.stringify({ dataDir }), { env: ENV }), {
    instanceOf: InvalidConfigError,
  })
  t.is(err.problems[0]?.path, 'dataDir')
  t.true(err.message.includes('set control.socket to a shorter path'), err.message)
})

test('a user given as a public key is kept as its user id', async (t) => {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key).toString()
  const base64 = Buffer.from(publicKeyToProtobuf(key.publicKey)).toString('base64')
  const hex = Buffer.from(publicKeyToProtobuf(key.publicKey)).toString('hex')
  const config = parseConfig(JSON.stringify({ hostPolicy: { allowUsers: [id, base64, hex, '*'] } }), {
    env: ENV,
  })
  t.deepEqual(config.hostPolicy.allowUsers, [id, id, id, '*'])
})

test('the config is deeply frozen', (t) => {
  const config: AgentConfig = parseConfig(
    JSON.stringify({ bootstrap: [`/ip4/10.0.0.1/tcp/4710/p2p/${PEER}`] }),
    {
      env: ENV,
    },
  )
  t.true(Object.isFrozen(config))
  t.true(Object.isFrozen(config.replication))
  t.true(Object.isFrozen(config.bootstrap))
  t.true(Object.isFrozen(config.hostPolicy.caps))
  t.throws(() => {
    ;(config.replication as { heartbeatMs: number }).heartbeatMs = 1
  })
})

test('UNDERSTUDY_CONFIG names the file when no path is given', async (t) => {
  const file = await configFile(t, '{"site": "from-named-file"}')
  const config = await loadConfig({ env: { ...ENV, UNDERSTUDY_CONFIG: file } })
  t.is(config.site, 'from-named-file')
  t.is(config.file, file)
  const none = await loadConfig({ env: ENV, hostname: 'pc7' })
  t.is(none.file, undefined)
  t.is(none.site, 'pc7')
})

test('every key has its own environment variable, named by the rule', (t) => {
  const names = ENV_OVERRIDES.map((o) => o.name)
  t.is(new Set(names).size, names.length)
  const byPath = new Map(ENV_OVERRIDES.map((o) => [o.path.join('.'), o.name]))
  t.is(byPath.get('dataDir'), 'UNDERSTUDY_DATA_DIR')
  t.is(byPath.get('log.level'), 'UNDERSTUDY_LOG_LEVEL')
  t.is(byPath.get('replication.heartbeatMs'), 'UNDERSTUDY_REPLICATION_HEARTBEAT_MS')
  t.is(byPath.get('hostPolicy.caps.maxMemoryMiB'), 'UNDERSTUDY_HOST_POLICY_CAPS_MAX_MEMORY_MIB')
})
