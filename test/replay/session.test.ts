/**
 * The whole machine: the example guests recorded live and replayed from their
 * logs; a checkpoint taken while the guest waits for input, restored in another
 * process; forged logs caught at the first entry that differs.
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { ExecutionContext } from 'ava'
import test from 'ava'
import { buildGuest, type GuestName } from '../../scripts/build-guests.ts'
import { decodeCall, encodeCall, HashChain, LogFileWriter, parseLogFile } from '../../src/replay/log/index.ts'
import { type RecordOptions, recordSession, replaySession } from '../../src/replay/session.ts'
import { EntryKind } from '../../src/replay/types.ts'
import type { InputSource } from '../../src/replay/wasi/index.ts'
import { runReference } from '../guests/reference-runtime.ts'

const run = promisify(execFile)
const cli = join(import.meta.dirname, '..', '..', 'bin', 'understudy.js')

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-session-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** An empty host directory to give the guest as /data. */
async function dataDirs(dir: string) {
  const seed = join(dir, 'data')
  await mkdir(seed, { recursive: true })
  return [{ hostDir: seed, guestPath: '/data' }]
}

/** stdin that hands out the given chunks one read at a time. */
function chunks(...parts: string[]): InputSource {
  const queue = parts.map((p) => new TextEncoder().encode(p))
  return { read: () => queue.shift() ?? new Uint8Array(0) }
}

function collector() {
  const parts: Uint8Array[] = []
  return {
    sink: (bytes: Uint8Array) => {
      parts.push(bytes.slice())
    },
    text: () => Buffer.concat(parts).toString('utf8'),
  }
}

interface Scenario {
  guest: GuestName
  args: string[]
  stdin?: string
  env?: [string, string][]
  seed?: Record<string, string>
}

const scenarios: Scenario[] = [
  { guest: 'interactive', args: ['interactive'], stdin: 'hello\nworld\ngrow 64\nsleep 5\nhistory\nexit 3\n' },
  { guest: 'kv', args: ['kv'], stdin: 'SET a 1\nINCR a 41\nSET b x\nKEYS\nGET a\nDEL b\nSTATS\nSNAPSHOT\n' },
  { guest: 'counter', args: ['counter'], stdin: 'one two three\nfour\ntotal\n' },
  { guest: 'fsops', args: ['fsops'] },
  {
    guest: 'files',
    args: ['files', '/data', 'hello', 'world'],
    env: [['FILES_MODE', 'golden']],
    seed: { 'seed.txt': 'seeded by the host\nsecond\n' },
  },
  {
    guest: 'compute',
    args: ['compute', 'hash', '1', 'sort', '2000', 'interp', '2000', 'clock', '300', 'random', '50'],
  },
]

for (const scenario of scenarios) {
  test(`${scenario.guest}: record then replay gives the same output, exit code and state digest`, async (t) => {
    const dir = await tempDir(t)
    const seed = join(dir, 'seed')
    await mkdir(seed)
    for (const [name, text] of Object.entries(scenario.seed ?? {})) await writeFile(join(seed, name), text)
    const image = await buildGuest(scenario.guest)
    const logPath = join(dir, 'run.uslog')
    const recorded = collector()
    const recording = await recordSession({
      imagePath: image,
      logPath,
      args: scenario.args,
      env: scenario.env ?? [],
      dirs: [{ hostDir: seed, guestPath: '/data' }],
      stdin: chunks(...(scenario.stdin ?? '').split(/(?<=\n)/)),
      stdout: recorded.sink,
      cacheDir: join(dir, 'cache'),
    })
    t.truthy(recording.outcome)
    t.true(recorded.text().length > 0)

    const replayed = collector()
    const replay = await replaySession({
      imagePath: image,
      logPath,
      stdout: replayed.sink,
      cacheDir: join(dir, 'cache'),
    })
    t.deepEqual(replay.outcome, recording.outcome)
    t.is(replayed.text(), recorded.text())
    t.deepEqual(Buffer.from(replay.digest), Buffer.from(recording.digest))
    t.is(replay.entries, recording.entries)
    // The host directory was only read.
    t.deepEqual((await readdir(seed)).sort(), Object.keys(scenario.seed ?? {}).sort())
  })
}

test('real WASI programs (C and Rust) give the same output and files as the reference runtime', async (t) => {
  for (const guest of ['fsops', 'files'] as const) {
    const dir = await tempDir(t)
    const [seedForUs, seedForReference] = [join(dir, 'ours'), join(dir, 'reference')]
    for (const seed of [seedForUs, seedForReference]) {
      await mkdir(seed)
      await writeFile(join(seed, 'seed.txt'), 'seeded by the host\nsecond\n')
    }
    const image = await buildGuest(guest)
    const args = guest === 'files' ? ['/data', 'hello', 'world'] : []
    const reference = await runReference(image, {
      args,
      env: { FILES_MODE: 'golden' },
      dirs: { '/data': seedForReference },
    })
    const ours = collector()
    const result = await recordSession({
      imagePath: image,
      logPath: join(dir, 'run.uslog'),
      args: [guest === 'files' ? 'files.wasm' : 'fsops.wasm', ...args],
      env: [['FILES_MODE', 'golden']],
      dirs: [{ hostDir: seedForUs, guestPath: '/data' }],
      stdout: ours.sink,
      cacheDir: join(dir, 'cache'),
    })
    t.deepEqual(result.outcome, { kind: 'exit', code: reference.exitCode }, guest)
    t.is(ours.text(), reference.stdout, guest)
    const exported = join(dir, 'exported')
    await result.disk.exportTo(exported)
    t.deepEqual(
      await tree(join(exported, '0')),
      await tree(seedForReference),
      `${guest}: files left on the disk`,
    )
  }
})

test('an AssemblyScript guest gives the same output as the reference runtime, up to its clock and dice', async (t) => {
  const dir = await tempDir(t)
  const image = await buildGuest('counter')
  const input = 'alpha beta\ngamma\n\ndelta epsilon zeta\ntotal\n'
  const reference = await runReference(image, { args: [], stdin: input })
  const ours = collector()
  const result = await recordSession({
    imagePath: image,
    logPath: join(dir, 'run.uslog'),
    args: ['counter.wasm'],
    stdin: chunks(input),
    stdout: ours.sink,
    cacheDir: join(dir, 'cache'),
  })
  // The only fields that differ between two runs are those made from the clock and random.
  const stable = (text: string) =>
    text.replace(/rolls?=\d+/g, 'roll=?').replace(/elapsed_ms=\d+/g, 'elapsed_ms=?')
  t.deepEqual(result.outcome, { kind: 'exit', code: reference.exitCode })
  t.true(reference.stdout.includes('line 4'), reference.stdout)
  t.is(stable(ours.text()), stable(reference.stdout))
})

test('a checkpoint taken while the guest waits for input, restored in another process, ends in the same state', async (t) => {
  const dir = await tempDir(t)
  const image = await buildGuest('interactive')
  const logPath = join(dir, 'run.uslog')
  const checkpointPath = join(dir, 'waiting.cp')
  const { promise: blocked, resolve: nowBlocked } = Promise.withResolvers<void>()
  const { promise: saved, resolve: checkpointSaved } = Promise.withResolvers<void>()
  let reads = 0
  const stdin: InputSource = {
    read: () => {
      reads++
      if (reads === 1) return new TextEncoder().encode('first line\ngrow 256\n')
      if (reads === 2) {
        // The guest now waits for input: checkpoint it there, then answer.
        nowBlocked()
        return saved.then(() => new TextEncoder().encode('second line\nquit\n'))
      }
      return new Uint8Array(0)
    },
  }
  const options: RecordOptions = {
    imagePath: image,
    logPath,
    args: ['interactive'],
    dirs: await dataDirs(dir),
    stdin,
    stdout: () => {},
    checkpoint: { when: blocked, path: checkpointPath },
    cacheDir: join(dir, 'cache'),
  }
  const recording = recordSession(options)
  const result = await Promise.race([
    recording,
    (async () => {
      for (;;) {
        await new Promise((r) => setTimeout(r, 5))
        if (await exists(checkpointPath)) {
          checkpointSaved()
          return recording
        }
      }
    })(),
  ])
  t.is(result.checkpoint?.path, checkpointPath)
  t.deepEqual(result.outcome, { kind: 'exit', code: 0 })
  const log = parseLogFile(new Uint8Array(await readFile(logPath)))
  const mark = log.entries.find((e) => e.kind === EntryKind.Checkpoint)
  t.truthy(mark, 'the log marks where the checkpoint was taken')
  const next = log.entries[mark!.seq + 1]!
  t.is(decodeCall(next.payload).fn, 'fd_read', 'the checkpoint is inside the wait for stdin')

  // A separate process restores the checkpoint and replays the rest of the log.
  const { stdout } = await run(process.execPath, [
    cli,
    'restore',
    checkpointPath,
    image,
    '--log',
    logPath,
    '--cache',
    join(dir, 'cache'),
  ])
  t.is(stdout.trim(), Buffer.from(result.digest).toString('hex'))
})

test('a forged log (re-hashed, so no checksum catches it) is caught at the first divergent output', async (t) => {
  const dir = await tempDir(t)
  const image = await buildGuest('interactive')
  const logPath = join(dir, 'run.uslog')
  await recordSession({
    imagePath: image,
    logPath,
    args: ['interactive'],
    dirs: await dataDirs(dir),
    stdin: chunks('abc\n', 'def\n'),
    stdout: () => {},
    cacheDir: join(dir, 'cache'),
  })
  const original = parseLogFile(new Uint8Array(await readFile(logPath)))
  // Change the bytes random_get returned, then rebuild a perfectly hashed log around them.
  const target = original.entries.find(
    (e) => e.kind === EntryKind.Call && decodeCall(e.payload).fn === 'random_get',
  )!
  const forgedPath = join(dir, 'forged.uslog')
  const writer = new LogFileWriter(forgedPath, { meta: original.meta })
  const chain = new HashChain()
  for (const entry of original.entries) {
    let payload = entry.payload
    if (entry.seq === target.seq) {
      const call = decodeCall(entry.payload)
      const result = call.result.slice()
      result[result.length - 1]! ^= 0xff
      payload = encodeCall(call.fn, call.args, result)
    }
    const next = chain.append(entry.kind, entry.epoch, payload)
    writer.append(next.entry, next.frame)
  }
  await writer.close()
  const error = await t.throwsAsync(
    replaySession({ imagePath: image, logPath: forgedPath, cacheDir: join(dir, 'cache') }),
  )
  t.is((error as { code?: string }).code, 'ERR_DIVERGENCE')
  const firstOutputAfter = original.entries.find((e) => e.seq > target.seq && e.kind === EntryKind.Output)!
  t.is((error as { seq?: number }).seq, firstOutputAfter.seq, error?.message)
  // The untouched log replays.
  await t.notThrowsAsync(replaySession({ imagePath: image, logPath, cacheDir: join(dir, 'cache') }))
})

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

/** A directory tree as sorted "path size" lines (directories end in /), with file contents hashed in. */
async function tree(root: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const entry of (await readdir(join(root, prefix), { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const rel = join(prefix, entry.name)
    if (entry.isDirectory()) out.push(`${rel}/`, ...(await tree(root, rel)))
    else out.push(`${rel} ${(await readFile(join(root, rel))).toString('base64')}`)
  }
  return out
}
