import { createHash } from 'node:crypto'
import test from 'ava'
import { buildGuest } from '../../scripts/build-guests.ts'
import { GuestSession } from './guest-session.ts'
import { runReference } from './reference-runtime.ts'

const compute = await buildGuest('compute')
const memhog = await buildGuest('memhog')

function xorshift32(seed: number, count: number): Uint32Array {
  const out = new Uint32Array(count)
  let x = seed >>> 0
  for (let i = 0; i < count; i++) {
    x = (x ^ (x << 13)) >>> 0
    x = (x ^ (x >>> 17)) >>> 0
    x = (x ^ (x << 5)) >>> 0
    out[i] = x
  }
  return out
}

function collatzTotal(limit: number): number {
  let total = 0
  for (let k = 1; k <= limit; k++) {
    for (let n = k; n !== 1; total++) n = n % 2 === 0 ? n / 2 : 3 * n + 1
  }
  return total
}

test('compute results match the same algorithms in JavaScript', async (t) => {
  const run = await runReference(compute, {
    args: ['hash', '2', 'sort', '5000', 'interp', '3000', 'calls', '20'],
  })
  t.is(run.exitCode, 0, run.stderr)
  const [hash, sort, interp, calls] = run.stdout.trimEnd().split('\n')

  const data = xorshift32(0x9e3779b9, 2 * 262144) // little-endian words, as in linear memory
  t.is(hash, `hash n=2 sha256=${createHash('sha256').update(data).digest('hex')}`)

  const sorted = xorshift32(12345, 5000).sort()
  let checksum = 0
  sorted.forEach((v, i) => {
    checksum = (checksum + Math.imul(v, i + 1)) >>> 0
  })
  t.is(sort, `sort n=5000 sorted=yes checksum=${checksum}`)

  t.regex(interp!, new RegExp(`^interp n=3000 result=${collatzTotal(3000)} insns=\\d+$`))
  t.is(calls, 'calls n=20 result=6765 calls=21891')
})

test('the import-call modes make their calls and check what they got', async (t) => {
  const run = await runReference(compute, { args: ['clock', '5000', 'random', '500'] })
  t.is(run.stdout, 'clock n=5000 nondecreasing=yes\nrandom n=500 distinct=yes\n')
})

test('compute rejects an unknown mode with exit code 2', async (t) => {
  const run = await runReference(compute, { args: ['sort', '10', 'bogus'] })
  t.is(run.exitCode, 2)
  t.regex(run.stderr, /unknown mode bogus/)
})

test('memhog holds N MiB of non-zero memory while it waits on stdin', async (t) => {
  const run = await runReference(memhog, { args: ['16'], stdin: 'a\nb\n', keepMemory: true })
  t.is(run.exitCode, 0)
  const out = run.stdout.trimEnd().split('\n')
  t.regex(out[0]!, /^memhog ready mib=16 sample=[0-9a-f]{16}$/)
  t.regex(out[1]!, /^memhog lines=1 sample=[0-9a-f]{16}$/)
  t.regex(out[2]!, /^memhog lines=2 sample=[0-9a-f]{16}$/)
  t.is(out[3], 'memhog bye lines=2')
  t.is(new Set(out.slice(0, 3).map((l) => l.split('sample=')[1])).size, 3, 'each line changes the memory')
  t.true(run.memoryBytes >= 16 * 1024 * 1024)
  t.true(run.memoryBytes < 18 * 1024 * 1024)
  let busyPages = 0
  const memory = run.memory!
  for (let page = 0; page < memory.length; page += 4096) {
    if (memory.subarray(page, page + 4096).some((b) => b !== 0)) busyPages++
  }
  t.true(busyPages >= 4096, `${busyPages} pages of 4 KiB hold non-zero bytes`)
})

test('memhog answers over a pipe, then exits on end of input', async (t) => {
  const guest = new GuestSession(memhog, { args: ['4'] })
  t.teardown(() => guest.kill())
  t.regex(await guest.next(), /^memhog ready mib=4 /)
  t.regex(await guest.ask('touch'), /^memhog lines=1 /)
  t.like(await guest.end(), { exitCode: 0, rest: ['memhog bye lines=1'] })
})
