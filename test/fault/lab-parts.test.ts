/** The lab's pure parts (addresses, nft rulesets) and the delay line on loopback; no root needed. */
import { once } from 'node:events'
import { createServer, type Socket, connect as tcpConnect } from 'node:net'
import test from 'ava'
import { createPrng } from '../../src/agent/group/prng.ts'
import { chooseSubnet, labName, ownerPid, parseCidr, planLab } from './lab/addressing.ts'
import { delayPipe, type LinkSettings, linkProfile, NO_DELAY, validLink } from './lab/delay-line.ts'
import { faultRuleset, guardRuleset, isolateCuts, partitionCuts } from './lab/nft-rules.ts'

test('the subnet comes from the seed and avoids every route the host has', (t) => {
  const [a, b] = chooseSubnet(5, ['default', '192.0.2.0/24'])
  t.deepEqual(chooseSubnet(5, ['default', '192.0.2.0/24']), [a, b])
  const taken = `10.${a}.${b}.0/24`
  const [c, d] = chooseSubnet(5, [taken, `10.${a}.0.0/16`])
  t.not(c, a, 'a route to 10.a.0.0/16 covers every 10.a.x.0/24')
  t.notDeepEqual([c, d], [a, b])
  t.throws(() => chooseSubnet(5, ['10.0.0.0/8']), { message: /routes all of 10\.0\.0\.0\/8/ })
  t.deepEqual(parseCidr('10.1.2.3'), { base: (10 << 24) + (1 << 16) + (2 << 8) + 3, length: 32 })
  t.is(parseCidr('fd00::1/64'), undefined)
})

test('a lab plan gives each site its own address and a proxy alias, and names that tell the run', (t) => {
  const name = labName('us', 4242, 0xbeef)
  t.is(name, 'us-4242-0000beef')
  const plan = planLab(name, ['s0', 'east'], [7, 9])
  t.is(plan.subnet, '10.7.9.0/24')
  t.deepEqual(
    plan.sites.map((s) => [s.namespace, s.host, s.proxyHost]),
    [
      ['us-4242-0000beef-s0', '10.7.9.11', '10.7.9.101'],
      ['us-4242-0000beef-east', '10.7.9.12', '10.7.9.102'],
    ],
  )
  t.is(ownerPid(`${name}-r`, 'us'), 4242)
  t.is(ownerPid(`${name}-east`, 'us'), 4242)
  t.is(ownerPid('us-4242-0000beef-r', 'lab'), undefined)
  t.is(ownerPid('docker0', 'us'), undefined)
  t.throws(() => planLab(name, ['s0', 's0'], [1, 1]), { message: /twice/ })
  t.throws(() => planLab(name, ['Bad-Name'], [1, 1]), { message: /lowercase/ })
})

test('partition cuts both directions between groups and insists on every site being placed', (t) => {
  const cuts = partitionCuts([['a'], ['b', 'c']], ['a', 'b', 'c'])
  t.deepEqual(cuts.map((c) => `${c.from}>${c.to}`).sort(), ['a>b', 'a>c', 'b>a', 'c>a'])
  t.throws(() => partitionCuts([['a'], ['b']], ['a', 'b', 'c']), { message: /missing c/ })
  t.throws(() => partitionCuts([['a'], ['a', 'b', 'c']], ['a', 'b', 'c']), { message: /two groups/ })
  t.deepEqual(isolateCuts('b', ['a', 'b', 'c']).length, 4)
})

test('a one-way cut drops by the peer’s own and proxy addresses, inbound at the receiver and outbound at the sender', (t) => {
  const plan = planLab('us-1-1', ['a', 'b', 'c'], [3, 4])
  const [a, b, c] = plan.sites as [(typeof plan.sites)[0], (typeof plan.sites)[0], (typeof plan.sites)[0]]
  const cuts = [{ from: 'a', to: 'b' }]
  const atB = faultRuleset(b, plan.sites, cuts)
  t.regex(atB, /ip saddr \{ 10\.3\.4\.11, 10\.3\.4\.101 \} drop/)
  t.notRegex(atB, /ip daddr/)
  const atA = faultRuleset(a, plan.sites, cuts)
  t.regex(atA, /ip daddr \{ 10\.3\.4\.12, 10\.3\.4\.102 \} drop/)
  t.notRegex(atA, /ip saddr/)
  t.is(faultRuleset(c, plan.sites, cuts), 'add table inet understudy_lab\ndelete table inet understudy_lab\n')
  t.regex(guardRuleset(a, plan.sites, false), /ip daddr \{ 10\.3\.4\.12, 10\.3\.4\.13 \} reject/)
  t.notRegex(guardRuleset(a, plan.sites, true), /ip daddr/)
})

/** Two loopback connections; the delay line joins the first's server end to the second's client end. */
async function rig(settings: Partial<LinkSettings>, seed = 1) {
  const accepted: Socket[] = []
  const server = createServer((s) => accepted.push(s))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  const open = async () => {
    const client = tcpConnect(port, '127.0.0.1')
    await once(client, 'connect')
    while (accepted.length === 0) await new Promise((r) => setImmediate(r))
    return { client, server: accepted.shift()! }
  }
  const first = await open()
  const second = await open()
  let resets = 0
  const link: LinkSettings = { ...NO_DELAY, ...settings }
  delayPipe(first.server, second.client, {
    settings: () => link,
    rng: createPrng(seed),
    onReset: () => resets++,
  })
  const close = () => {
    for (const s of [first.client, first.server, second.client, second.server]) s.destroy()
    server.close()
  }
  return { input: first.client, output: second.server, resets: () => resets, close }
}

test('the delay line holds chunks for the delay and never reorders them, whatever the jitter', async (t) => {
  const r = await rig({ delayMs: 40, jitterMs: 35 })
  t.teardown(r.close)
  const received: Buffer[] = []
  r.output.on('data', (chunk: Buffer) => received.push(chunk))
  const ended = once(r.output, 'end')
  const start = performance.now()
  const firstByte = once(r.output, 'data').then(() => performance.now() - start)
  for (let i = 0; i < 200; i++) {
    r.input.write(`${i}\n`)
    if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 2))
  }
  r.input.end()
  await ended
  const numbers = Buffer.concat(received).toString().trim().split('\n').map(Number)
  t.deepEqual(
    numbers,
    Array.from({ length: 200 }, (_, i) => i),
  )
  t.true((await firstByte) >= 0.8 * (40 - 35), 'the first chunk was held')
})

test('a lost chunk stalls the stream for lossStallMs; resetRate 1 resets at the first chunk', async (t) => {
  const lossy = await rig({ lossRate: 1, lossStallMs: 150 })
  t.teardown(lossy.close)
  const start = performance.now()
  lossy.input.write('x')
  await once(lossy.output, 'data')
  t.true(performance.now() - start >= 0.8 * 150)

  const doomed = await rig({ resetRate: 1 })
  t.teardown(doomed.close)
  doomed.input.write('y')
  while (doomed.resets() === 0) await new Promise((r) => setTimeout(r, 5))
  t.is(doomed.resets(), 1)
})

test('link settings are checked, and a profile gives each pair one delay both ways', (t) => {
  t.throws(() => validLink({ delayMs: -1 }), { message: /≥ 0/ })
  t.throws(() => validLink({ lossRate: 2 }), { message: /probability/ })
  t.throws(() => validLink({ latency: 3 } as never), { message: /unknown link setting latency/ })
  const profile = linkProfile(createPrng(3), ['a', 'b', 'c'], { minMs: 20, maxMs: 80, jitterMs: 5 })
  t.is(profile.length, 6)
  for (const p of profile) {
    t.true(p.settings.delayMs! >= 20 && p.settings.delayMs! <= 80)
    const back = profile.find((q) => q.from === p.to && q.to === p.from)!
    t.is(back.settings.delayMs, p.settings.delayMs)
  }
})
