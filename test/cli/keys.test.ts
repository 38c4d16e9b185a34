import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import test, { type ExecutionContext } from 'ava'
import { Command } from 'commander'
import { PolicyGate } from '../../src/agent/policy-gate.ts'
import { type CliIo, keysCommand } from '../../src/cli/commands/keys.ts'
import { manifestCommand } from '../../src/cli/commands/manifest.ts'
import { ManifestInvalidError, UserKeyFileError } from '../../src/errors/index.ts'
import { decodeUserKey, PolicyEngine, unknownPeer, userIdOf, verifyManifest } from '../../src/policy/index.ts'

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'us-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Runs `understudy keys|manifest …` in-process with captured output, a fake home and environment. */
function cli(home: string, env: Record<string, string> = {}) {
  const io = { out: '', err: '' }
  const cliIo: CliIo = {
    stdout: { write: (text: string) => (io.out += text) },
    stderr: { write: (text: string) => (io.err += text) },
    env,
    homedir: () => home,
  }
  const run = async (...args: string[]) => {
    io.out = ''
    io.err = ''
    const program = new Command('understudy')
      .exitOverride()
      .addCommand(keysCommand(cliIo))
      .addCommand(manifestCommand(cliIo))
    await program.parseAsync(args, { from: 'user' })
    return { out: io.out, err: io.err }
  }
  return run
}

test('keys new writes a 0600 key and prints its user id; keys show prints the same id and public key', async (t) => {
  const home = tempDir(t)
  const run = cli(home)
  const { out, err } = await run('keys', 'new')
  const path = join(home, '.config', 'understudy', 'user.key')
  t.regex(err, new RegExp(`wrote a new user key to ${path}`))
  t.is(statSync(path).mode & 0o777, 0o600)
  const key = decodeUserKey(readFileSync(path))
  t.is(out, `${userIdOf(key)}\n`)
  t.deepEqual(readdirSync(join(home, '.config', 'understudy')), ['user.key'], 'no temp file left behind')

  const shown = await run('keys', 'show')
  const [idLine, publicLine] = shown.out.trim().split('\n')
  t.is(idLine, `user id     ${userIdOf(key)}`)
  const publicKey = publicKeyFromProtobuf(
    Buffer.from(publicLine?.replace('public key  ', '') ?? '', 'base64'),
  )
  t.is(userIdOf(publicKey), userIdOf(key))
})

test('keys new refuses to overwrite a key without --force, and replaces it with --force', async (t) => {
  const dir = tempDir(t)
  const run = cli(dir)
  const path = join(dir, 'me.key')
  const first = (await run('keys', 'new', '--out', path)).out.trim()
  const before = readFileSync(path)

  const err = await t.throwsAsync(run('keys', 'new', '--out', path), { instanceOf: UserKeyFileError })
  t.is(err?.code, 'ERR_USER_KEY_FILE')
  t.is(err?.path, path)
  t.regex(err?.message ?? '', /already holds a key; pass --force/)
  t.deepEqual(readFileSync(path), before, 'the old key is untouched')

  const second = (await run('keys', 'new', '--out', path, '--force')).out.trim()
  t.not(second, first)
  t.is(userIdOf(decodeUserKey(readFileSync(path))), second)
  t.is(statSync(path).mode & 0o777, 0o600)
  t.deepEqual(readdirSync(dir), ['me.key'])
})

test('the key file defaults to $UNDERSTUDY_USER_KEY when it is set', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'elsewhere', 'user.key')
  const run = cli(join(dir, 'home'), { UNDERSTUDY_USER_KEY: path })
  const id = (await run('keys', 'new')).out.trim()
  t.is(userIdOf(decodeUserKey(readFileSync(path))), id)
  t.regex((await run('keys', 'show')).out, new RegExp(id))
})

test('a corrupt, missing or group-readable key file is a typed error naming the file and what to do', async (t) => {
  const dir = tempDir(t)
  const run = cli(dir)
  const corrupt = join(dir, 'corrupt.key')
  writeFileSync(corrupt, 'not a key at all', { mode: 0o600 })
  const bad = await t.throwsAsync(run('keys', 'show', '--key', corrupt), { instanceOf: UserKeyFileError })
  t.is(bad?.path, corrupt)
  t.regex(bad?.message ?? '', /is not a usable user key .*understudy keys new --force/)

  const missing = join(dir, 'missing.key')
  const none = await t.throwsAsync(run('keys', 'show', '--key', missing), { instanceOf: UserKeyFileError })
  t.regex(none?.message ?? '', /no user key at .*missing\.key: create one with `understudy keys new`/)

  const open = join(dir, 'open.key')
  await run('keys', 'new', '--out', open)
  chmodSync(open, 0o644)
  const loose = await t.throwsAsync(run('keys', 'show', '--key', open), { instanceOf: UserKeyFileError })
  t.regex(loose?.message ?? '', /mode 644, readable by other users: run `chmod 600/)
})

test('manifest sign writes a manifest that verifies, pins the image and carries the data policy', async (t) => {
  const dir = tempDir(t)
  const run = cli(dir)
  const id = (await run('keys', 'new')).out.trim()
  const image = join(dir, 'guest.wasm')
  writeFileSync(image, Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0))
  const policy = join(dir, 'policy.json')
  writeFileSync(policy, JSON.stringify({ allow: { orgs: ['physics'] }, minSites: 2 }))
  const out = join(dir, 'kv.manifest.json')
  await run(
    'manifest',
    'sign',
    '--name',
    'kv',
    '--image',
    image,
    '--replicas',
    '3',
    '--policy',
    policy,
    '--memory-mib',
    '128',
    '--out',
    out,
  )

  const manifest = await verifyManifest(JSON.parse(readFileSync(out, 'utf8')))
  t.is(manifest.owner, id)
  t.is(manifest.replicas, 3)
  t.is(manifest.image.sha256, createHash('sha256').update(readFileSync(image)).digest('hex'))
  t.deepEqual(manifest.dataPolicy.allow, { orgs: ['physics'] })
  t.is(manifest.dataPolicy.minSites, 2)
  t.is(manifest.resources.memoryMiB, 128)

  // The bytes `understudy run --manifest` sends are what a host's gate accepts.
  const gate = new PolicyGate({
    engine: new PolicyEngine(),
    audit: { append: async () => undefined },
    self: () => unknownPeer(id),
    peerFacts: () => undefined,
  })
  t.is((await gate.verifyIncomingManifest(readFileSync(out))).name, 'kv')
  t.regex((await run('manifest', 'verify', out)).out, /owner {7}12D3KooW.* \(signature verified\)/)

  writeFileSync(policy, JSON.stringify({ allow: { orgs: [] } }))
  const err = await t.throwsAsync(
    run(
      'manifest',
      'sign',
      '--name',
      'kv',
      '--image',
      image,
      '--replicas',
      '1',
      '--policy',
      policy,
      '--out',
      out,
    ),
    { instanceOf: ManifestInvalidError },
  )
  t.is(err?.field, 'dataPolicy.allow.orgs')
})

const fixture = fileURLToPath(new URL('fixtures/keys-cli.ts', import.meta.url))

function spawnCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk) => (out += chunk))
    child.stderr.on('data', (chunk) => (err += chunk))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, out, err }))
  })
}

test('as a process: keys new then keys show agree, and a corrupt key exits 70 with one clear line', async (t) => {
  const dir = tempDir(t)
  const env = { HOME: dir, UNDERSTUDY_USER_KEY: '' }
  const made = await spawnCli(['keys', 'new'], env)
  t.is(made.code, 0, made.err)
  const shown = await spawnCli(['keys', 'show'], env)
  t.is(shown.code, 0, shown.err)
  t.true(shown.out.startsWith(`user id     ${made.out.trim()}\n`))

  const again = await spawnCli(['keys', 'new'], env)
  t.is(again.code, 70)
  t.regex(again.err, /^understudy: .*already holds a key; pass --force .* \[ERR_USER_KEY_FILE\]\n$/)

  writeFileSync(join(dir, '.config', 'understudy', 'user.key'), Uint8Array.of(1, 2, 3))
  const broken = await spawnCli(['keys', 'show'], env)
  t.is(broken.code, 70)
  t.regex(broken.err, /^understudy: .*user\.key is not a usable user key .* \[ERR_USER_KEY_FILE\]\n$/)
})
