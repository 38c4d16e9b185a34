import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import {
  type ControlAddress,
  ControlClient,
  ControlServer,
  logChunkBytes,
} from '../../../src/agent/control/index.ts'
import { AgentUnreachableError, ControlApiError, ListenError } from '../../../src/errors/index.ts'
import { FakeAgent, socketDir, TOKEN } from './fake-agent.ts'

async function serve(t: ExecutionContext, listen: ControlAddress, init: { maxBodyBytes?: number } = {}) {
  const agent = new FakeAgent()
  const server = await ControlServer.start({ listen, handlers: agent, events: agent.hub, ...init })
  t.teardown(() => server.close())
  return { agent, server, client: new ControlClient(server.address, { timeoutMs: 5_000 }) }
}

const unix = (t: ExecutionContext): ControlAddress => ({ socketPath: join(socketDir(t), 'control.sock') })
const tcp = (): ControlAddress => ({ host: '127.0.0.1', port: 0, token: TOKEN })

/** Every route through the real client; the same script runs over the socket and over TCP. */
async function everyRoute(t: ExecutionContext, listen: ControlAddress, transport: 'unix' | 'tcp') {
  const { agent, client } = await serve(t, listen)

  const status = await client.status()
  t.is(status.peerId, '12D3KooWSelf')
  t.is(status.site, 'lab-a')

  const peers = await client.peers()
  t.deepEqual(
    peers.map((p) => [p.peerId, p.self]),
    [
      ['12D3KooWSelf', true],
      ['12D3KooWOther', false],
    ],
  )

  const ran = await client.run({ name: 'kv', image: '/images/kv.wasm', replicas: 3 })
  t.is(ran.workload.name, 'kv')
  t.is(ran.workload.replicas.length, 3)
  t.deepEqual(
    (await client.workloads()).map((w) => [w.name, w.primary]),
    [['kv', 'peer-0']],
  )

  const failover = await client.failover('kv', { to: 'peer-2' })
  t.deepEqual(failover, { name: 'kv', from: 'peer-0', to: 'peer-2', epoch: 2, tookMs: 42 })
  const detail = await client.workload('kv')
  t.is(detail.primary, 'peer-2')
  t.is(detail.lastFailover?.tookMs, 42)
  t.deepEqual(
    detail.replicas.map((r) => r.role),
    ['shadow', 'shadow', 'primary'],
  )
  t.deepEqual(
    detail.recentEvents.map((e) => e.type),
    ['workload', 'election', 'promotion'],
  )

  const explanation = await client.explain('kv')
  t.is(explanation.candidates.length, 3)
  t.true(explanation.candidates.every((c) => c.reasons.length > 0))

  agent.release('kv', 'hello ')
  const input = await client.stdin('kv', { data: Buffer.from('ping').toString('base64') })
  t.is(input.accepted, 4)
  const logs = await client.logs('kv')
  t.is(logs.chunks.map((c) => Buffer.from(logChunkBytes(c)).toString()).join(''), 'hello echo: ping')
  t.is(logs.next, 16)
  const tail = await client.logs('kv', { from: 8 })
  t.is(tail.chunks.map((c) => Buffer.from(logChunkBytes(c)).toString()).join(''), 'ho: ping')

  const stopped = await client.stop('kv')
  t.deepEqual(stopped, { name: 'kv', state: 'stopped' })

  t.true(agent.calls.length >= 11)
  t.true(agent.calls.every((c) => c.caller.transport === transport && c.caller.localAdmin))
}

test('every route works through the client over the Unix socket', (t) => everyRoute(t, unix(t), 'unix'))
test('every route works through the client over loopback TCP with the token', (t) =>
  everyRoute(t, tcp(), 'tcp'))

test('the control socket is created mode 0600, and removed on close', async (t) => {
  const address = unix(t)
  const { server } = await serve(t, address)
  const path = (address as { socketPath: string }).socketPath
  t.is(statSync(path).mode & 0o777, 0o600)
  await server.close()
  t.throws(() => statSync(path), { code: 'ENOENT' })
})

test('a stale socket left by a crashed agent is replaced; a live one is refused', async (t) => {
  const dir = socketDir(t)
  const path = join(dir, 'control.sock')
  // A socket file nobody listens on any more: listen elsewhere, move it into place, stop listening.
  const dead = createNetServer()
  await new Promise<void>((resolve) => dead.listen(join(dir, 'old.sock'), resolve))
  renameSync(join(dir, 'old.sock'), path)
  await new Promise((resolve) => dead.close(resolve))
  t.true(statSync(path).isSocket())

  const { server, client } = await serve(t, { socketPath: path })
  t.is((await client.status()).site, 'lab-a')
  const other = new FakeAgent()
  await t.throwsAsync(
    ControlServer.start({ listen: { socketPath: path }, handlers: other, events: other.hub }),
    {
      instanceOf: ListenError,
      message: /another agent is already serving/,
    },
  )
  await server.close()
})

test('a control socket path that is a regular file is refused, not deleted', async (t) => {
  const path = join(socketDir(t), 'control.sock')
  writeFileSync(path, 'precious')
  const agent = new FakeAgent()
  await t.throwsAsync(
    ControlServer.start({ listen: { socketPath: path }, handlers: agent, events: agent.hub }),
    {
      instanceOf: ListenError,
      message: /is not a socket/,
    },
  )
  t.is(readFileSync(path, 'utf8'), 'precious')
})

test('a wrong or missing token is refused with 401 before any handler runs', async (t) => {
  const { agent, server } = await serve(t, tcp())
  const address = server.address as { host: string; port: number; token: string }
  const wrong = new ControlClient({ ...address, token: 'not-the-token-at-all' })
  const err = await t.throwsAsync(wrong.status(), { instanceOf: ControlApiError })
  t.is(err?.status, 401)
  t.is(err?.code, 'ERR_UNAUTHORIZED')
  const raw = await rawRequest(address, 'GET', '/v1/status', undefined, {})
  t.is(raw.status, 401)
  t.regex(raw.body, /Authorization: Bearer/)
  t.is(agent.calls.length, 0)
})

test('a port already in use is a ListenError', async (t) => {
  const { server } = await serve(t, tcp())
  const port = (server.address as { port: number }).port
  const agent = new FakeAgent()
  await t.throwsAsync(
    ControlServer.start({
      listen: { host: '127.0.0.1', port, token: TOKEN },
      handlers: agent,
      events: agent.hub,
    }),
    { instanceOf: ListenError, message: /cannot listen on 127.0.0.1:\d+: .*EADDRINUSE/ },
  )
})

test('binding the control API to a non-loopback address is refused', async (t) => {
  const agent = new FakeAgent()
  for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
    await t.throwsAsync(
      ControlServer.start({ listen: { host, port: 0, token: TOKEN }, handlers: agent, events: agent.hub }),
      { instanceOf: ListenError, message: /only on loopback/ },
    )
  }
})

test('malformed JSON, invalid fields and an oversized body get 400 with a clear message', async (t) => {
  const { agent, server } = await serve(t, unix(t), { maxBodyBytes: 1024 })
  const address = server.address
  const bad = await rawRequest(address, 'POST', '/v1/workloads', '{"name": "kv", ', {
    'content-type': 'application/json',
  })
  t.is(bad.status, 400)
  t.is(bad.json.error.code, 'ERR_BAD_REQUEST')
  t.regex(bad.json.error.message, /not valid JSON/)

  const client = new ControlClient(address)
  const invalid = await t.throwsAsync(client.run({ name: 'Bad Name!', image: '/x.wasm', replicas: 0 }), {
    instanceOf: ControlApiError,
  })
  t.is(invalid?.status, 400)
  t.regex(invalid?.message ?? '', /name: must be 1-63 of a-z/)
  t.regex(invalid?.message ?? '', /replicas: /)

  const unknownField = await rawRequest(address, 'POST', '/v1/workloads/kv/stop', '{"force": true}', {})
  t.is(unknownField.status, 400)
  t.regex(unknownField.json.error.message, /force/)

  const big = JSON.stringify({ data: 'A'.repeat(4096) })
  const tooBig = await rawRequest(address, 'POST', '/v1/workloads/kv/stdin', big, {})
  t.is(tooBig.status, 400)
  t.is(tooBig.json.error.code, 'ERR_BODY_TOO_LARGE')
  t.regex(tooBig.json.error.message, /limit is 1024 bytes/)

  // Chunked, so no Content-Length warns the server in advance.
  const chunked = await rawRequest(address, 'POST', '/v1/workloads/kv/stdin', big, {
    'transfer-encoding': 'chunked',
  })
  t.is(chunked.status, 400)
  t.is(chunked.json.error.code, 'ERR_BODY_TOO_LARGE')

  const badQuery = await rawRequest(address, 'GET', '/v1/workloads/kv/logs?from=-3', undefined, {})
  t.is(badQuery.status, 400)
  t.regex(badQuery.json.error.message, /\?from/)
  t.false(agent.calls.some((c) => ['run', 'stop', 'stdin', 'logs'].includes(c.route)))
  // The server is still fine after all that.
  t.is((await client.status()).site, 'lab-a')
})

test('handler errors map to statuses: unknown workload 404, policy 403 with reasons, conflict 409', async (t) => {
  const { client } = await serve(t, unix(t))
  const missing = await t.throwsAsync(client.workload('nope'), { instanceOf: ControlApiError })
  t.is(missing?.status, 404)
  t.is(missing?.code, 'ERR_UNKNOWN_WORKLOAD')
  t.regex(missing?.message ?? '', /no workload named nope/)

  await client.run({ name: 'locked-db', image: '/x.wasm', replicas: 2 })
  const refused = await t.throwsAsync(client.failover('locked-db'), { instanceOf: ControlApiError })
  t.is(refused?.status, 403)
  t.is(refused?.code, 'ERR_FORBIDDEN')
  t.deepEqual(refused?.reasons, ['data:owner-only: only the owner may move it'])

  const twice = await t.throwsAsync(client.run({ name: 'locked-db', image: '/x.wasm', replicas: 2 }), {
    instanceOf: ControlApiError,
  })
  t.is(twice?.status, 409)
  t.is(twice?.code, 'ERR_CONFLICT')
})

test('an unexpected handler failure is a 500 reported to onError; unknown routes 404, wrong methods 405', async (t) => {
  const agent = new FakeAgent()
  const errors: unknown[] = []
  agent.status = async () => {
    throw new TypeError('boom')
  }
  const server = await ControlServer.start({
    listen: unix(t),
    handlers: agent,
    events: agent.hub,
    onError: (err) => errors.push(err),
  })
  t.teardown(() => server.close())
  const client = new ControlClient(server.address)
  const err = await t.throwsAsync(client.status(), { instanceOf: ControlApiError })
  t.is(err?.status, 500)
  t.is(err?.code, 'ERR_INTERNAL')
  t.regex(err?.message ?? '', /boom/)
  t.is(errors.length, 1)

  const unknown = await rawRequest(server.address, 'GET', '/v1/nothing', undefined, {})
  t.is(unknown.status, 404)
  t.is(unknown.json.error.code, 'ERR_NOT_FOUND')
  const wrongMethod = await rawRequest(server.address, 'POST', '/v1/status', '{}', {})
  t.is(wrongMethod.status, 405)
  t.is(wrongMethod.headers.allow, 'GET')
})

test('a workload name is percent-encoded on the way and decoded for the handler', async (t) => {
  const { agent, client } = await serve(t, unix(t))
  const seen: string[] = []
  agent.explain = async (name) => {
    seen.push(name)
    return { name, decidedAt: 0, summary: '', candidates: [] }
  }
  await client.explain('alice/kv store')
  t.deepEqual(seen, ['alice/kv store'])
})

test('a client of an agent that is not running gets AgentUnreachableError', async (t) => {
  const client = new ControlClient({ socketPath: join(socketDir(t), 'absent.sock') })
  const err = await t.throwsAsync(client.status(), { instanceOf: AgentUnreachableError })
  t.regex(err?.message ?? '', /is `understudy agent` running/)
  const tcpClient = new ControlClient({ host: '127.0.0.1', port: 1, token: TOKEN })
  await t.throwsAsync(tcpClient.workloads(), { instanceOf: AgentUnreachableError })
})

test('a call that gets no answer in time fails as unreachable, and the handler sees its signal abort', async (t) => {
  const agent = new FakeAgent()
  let aborted: Promise<void> | undefined
  agent.peers = (ctx) => {
    aborted = new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve()))
    return new Promise(() => {}) // never answers
  }
  const server = await ControlServer.start({
    listen: unix(t),
    handlers: agent,
    events: agent.hub,
    closeGraceMs: 100,
  })
  t.teardown(() => server.close())
  const client = new ControlClient(server.address)
  const err = await t.throwsAsync(client.peers({ timeoutMs: 150 }), { instanceOf: AgentUnreachableError })
  t.regex(err?.message ?? '', /did not answer GET \/v1\/peers .* within 150 ms/)
  await aborted
  t.pass('the handler was told the client left')

  const caller = new AbortController()
  const pending = client.peers({ signal: caller.signal })
  caller.abort(new Error('user pressed q'))
  await t.throwsAsync(pending, { message: 'user pressed q' })
})

test('close lets a request in flight finish, and aborting the start signal closes the server', async (t) => {
  const agent = new FakeAgent()
  let release!: () => void
  let entered!: () => void
  const handlerEntered = new Promise<void>((resolve) => {
    entered = resolve
  })
  agent.status = async (ctx) => {
    await new Promise<void>((resolve) => {
      release = resolve
      entered()
    })
    return { ...(await new FakeAgent().status(ctx)), site: 'finished' }
  }
  const stop = new AbortController()
  const server = await ControlServer.start({
    listen: unix(t),
    handlers: agent,
    events: agent.hub,
    signal: stop.signal,
  })
  const client = new ControlClient(server.address)
  const inFlight = client.status()
  await handlerEntered
  stop.abort()
  setTimeout(() => release(), 50)
  t.is((await inFlight).site, 'finished')
  await server.close()
  await t.throwsAsync(client.status(), { instanceOf: AgentUnreachableError })
})

interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  // biome-ignore lint/suspicious/noExplicitAny: test peeks into error JSON
  json: any
}

/** A request the typed client would never send. */
function rawRequest(
  address: ControlAddress,
  method: string,
  path: string,
  body: string | undefined,
  headers: Record<string, string>,
): Promise<RawResponse> {
  const where =
    'socketPath' in address ? { socketPath: address.socketPath } : { host: address.host, port: address.port }
  return new Promise((resolve, reject) => {
    const req = request({ ...where, method, path, headers, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        text += c
      })
      res.on('end', () => {
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json })
      })
    })
    req.on('error', reject)
    if (body !== undefined && headers['transfer-encoding'] === 'chunked') {
      for (let i = 0; i < body.length; i += 512) req.write(body.slice(i, i + 512))
      req.end()
    } else {
      req.end(body)
    }
  })
}
