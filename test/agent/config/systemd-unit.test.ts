import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'

const UNIT = new URL('../../../config/understudy-agent.service', import.meta.url).pathname

// Chosen at load time: without systemd-analyze the verify test is skipped, and says so in its title.
const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0
const withAnalyze = hasAnalyze ? test : test.skip
const suffix = hasAnalyze ? '' : ' (skipped: systemd-analyze is not installed here)'

function verify(path: string): { status: number | null; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' })
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

/** The `Key=value` lines of a unit file, by section. */
function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const header = /^\[(.+)\]$/.exec(line)
    if (header != null) {
      section = header[1]!
      continue
    }
    const eq = line.indexOf('=')
    const key = `${section}.${line.slice(0, eq)}`
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)])
  }
  return out
}

withAnalyze(`systemd-analyze verify accepts the unit without a warning${suffix}`, async (t) => {
  const { status, output } = verify(UNIT)
  t.log(output === '' ? 'systemd-analyze verify: no output' : output)
  t.is(status, 0)
  // verify exits 0 on unknown keys and bad values, so any line about our unit is a failure.
  t.false(output.includes('understudy-agent.service'), output)

  // And it does catch such mistakes here: a broken copy is reported.
  const dir = await mkdtemp(join(tmpdir(), 'understudy-unit-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const broken = join(dir, 'understudy-agent.service')
  await writeFile(broken, (await readFile(UNIT, 'utf8')).replace('Restart=on-failure', 'Restart=sometimes'))
  t.regex(verify(broken).output, /understudy-agent\.service:\d+: Failed to parse service restart specifier/)
})

test('the unit starts the agent at boot as its own user, hardened, with JIT allowed', async (t) => {
  const d = directives(await readFile(UNIT, 'utf8'))
  const one = (key: string) => d.get(key)?.at(-1)
  t.is(one('Service.ExecStart'), '/usr/bin/env understudy agent --config /etc/understudy/agent.json')
  t.is(one('Service.Restart'), 'on-failure')
  t.truthy(one('Service.RestartSec'))
  t.is(one('Service.User'), 'understudy')
  t.is(one('Service.StateDirectory'), 'understudy')
  t.is(one('Service.KillSignal'), 'SIGTERM')
  t.truthy(one('Service.TimeoutStopSec'))
  t.truthy(one('Service.LimitNOFILE'))
  t.is(one('Unit.After'), 'network-online.target')
  t.is(one('Unit.Wants'), 'network-online.target')
  t.is(one('Install.WantedBy'), 'multi-user.target')
  for (const key of ['NoNewPrivileges', 'PrivateTmp', 'PrivateDevices', 'ProtectHome']) {
    t.is(one(`Service.${key}`), 'yes', key)
  }
  t.is(one('Service.ProtectSystem'), 'strict')
  t.is(one('Service.RestrictAddressFamilies'), 'AF_UNIX AF_INET AF_INET6 AF_NETLINK')
  t.is(one('Service.SystemCallFilter'), '@system-service')
  t.is(one('Service.MemoryDenyWriteExecute'), 'no', 'V8 needs writable-then-executable memory for its JIT')
})
