import { createServer } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import {
  type ControlAddress,
  ControlClient,
  type ControlEventBody,
  ControlServer,
  EventHub,
  type EventStreamItem,
  logChunkBytes,
} from '../../../src/agent/control/index.ts'
import { ControlApiError } from '../../../src/errors/index.ts'
import { FakeAgent, socketDir, TOKEN } from './fake-agent.ts'

const FAST_RETRY = { initialMs: 20, maxMs: 100 }

const election = (epoch: number): ControlEventBody => ({
  type: 'election',
  workload: 'kv',
  candidate: 'peer-1',
  epoch,
  outcome: 'won',
})

/** Takes the next item, failing the test instead of hanging when none comes. */
async function next<T>(it: AsyncIterator<T>, what: string, ms = 3_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)
  })
  try {
    const r = await Promise.race([it.next(), timeout])
    if (r.done) throw new Error(`the stream ended while waiting for ${what}`)
    return r.value
  } finally {
    clearTimeout(timer)
  }
}

async function start(t: ExecutionContext, listen: ControlAddress, agent: FakeAgent, heartbeatMs?: number) {
  const server = await ControlServer.start({
    listen,
    handlers: agent,
    events: agent.hub,
    heartbeatMs,
    closeGraceMs: 200,
  })
  t.teardown(() => server.close())
  return server
}

/** An events iterator ended with the test. */
function subscribe(
  t: ExecutionContext,
  client: ControlClient,
  options: Parameters<ControlClient['events']>[0] = {},
) {
  const stop = new AbortController()
  const it = client.events({ retry: FAST_RETRY, ...options, signal: stop.signal })
  t.teardown(async () => {
    stop.abort()
    await it.return()
  })
  return it
}

const eventOf = (item: EventStreamItem) => {
  if (item.type !== 'event') throw new Error(`expected an event, got ${JSON.stringify(item)}`)
  return item.event
}

test('events the agent publishes reach the client in order, with ids', async (t) => {
  const agent = new FakeAgent()
  const server = await start(t, { socketPath: join(socketDir(t), 'c.sock') }, agent)
  const it = subscribe(t, new ControlClient(server.address))
  t.like(await next(it, 'connected'), { type: 'state', state: 'connected', bootId: agent.hub.bootId })
  for (const epoch of [2, 3, 4]) agent.hub.publish(election(epoch))
  const got = [eventOf(await next(it, 'e2')), eventOf(await next(it, 'e3')), eventOf(await next(it, 'e4'))]
  t.deepEqual(
    got.map((e) => (e.type === 'election' ? e.epoch : -1)),
    [2, 3, 4],
  )
  t.deepEqual(
    got.map((e) => e.id),
    [1, 2, 3].map((n) => `${agent.hub.bootId}-${n}`),
  )
})

test('a new client can ask for a backlog of recent events', async (t) => {
  const agent = new FakeAgent()
  for (const epoch of [1, 2, 3, 4, 5]) agent.hub.publish(election(epoch))
  const server = await start(t, { socketPath: join(socketDir(t), 'c.sock') }, agent)
  const it = subscribe(t, new ControlClient(server.address), { backlog: 2 })
  t.like(await next(it, 'connected'), { state: 'connected' })
  t.like(eventOf(await next(it, 'backlog 1')), { epoch: 4 })
  t.like(eventOf(await next(it, 'backlog 2')), { epoch: 5 })
})

test('after a dropped connection the client resumes with Last-Event-ID: nothing missed, nothing repeated', async (t) => {
  const agent = new FakeAgent()
  const listen = { socketPath: join(socketDir(t), 'c.sock') }
  const first = await start(t, listen, agent)
  const it = subscribe(t, new ControlClient(first.address))
  t.like(await next(it, 'connected'), { state: 'connected' })
  agent.hub.publish(election(1))
  t.like(eventOf(await next(it, 'e1')), { epoch: 1 })

  await first.close() // the agent's control server goes away; the agent (and its hub) lives on
  t.like(await next(it, 'unreachable'), { type: 'state', state: 'unreachable' })
  agent.hub.publish(election(2))
  agent.hub.publish(election(3))

  await start(t, listen, agent)
  t.like(await next(it, 'connected again'), { type: 'state', state: 'connected' })
  t.like(eventOf(await next(it, 'e2')), { epoch: 2 })
  t.like(eventOf(await next(it, 'e3')), { epoch: 3 })
  agent.hub.publish(election(4))
  t.like(eventOf(await next(it, 'e4')), { epoch: 4 })
})

test('a client that resumes across an agent restart is told of the gap', async (t) => {
  const listen = { socketPath: join(socketDir(t), 'c.sock') }
  const before = new FakeAgent(new EventHub({ bootId: 'boot1' }))
  const first = await start(t, listen, before)
  const it = subscribe(t, new ControlClient(first.address))
  await next(it, 'connected')
  before.hub.publish(election(1))
  await next(it, 'e1')
  await first.close()
  t.like(await next(it, 'unreachable'), { state: 'unreachable' })

  const after = new FakeAgent(new EventHub({ bootId: 'boot2' }))
  after.hub.publish(election(7))
  await start(t, listen, after)
  t.like(await next(it, 'connected'), { state: 'connected', bootId: 'boot2' })
  t.deepEqual(await next(it, 'gap'), { type: 'gap', reason: 'restarted' })
  t.like(eventOf(await next(it, 'news since restart')), { epoch: 7, id: 'boot2-1' })
})

test('a client away longer than the ring holds is told of an overflow gap', async (t) => {
  const agent = new FakeAgent(new EventHub({ bootId: 'b', capacity: 4 }))
  const server = await start(t, { socketPath: join(socketDir(t), 'c.sock') }, agent)
  for (let epoch = 1; epoch <= 10; epoch++) agent.hub.publish(election(epoch))
  const it = subscribe(t, new ControlClient(server.address), { lastEventId: 'b-2' })
  await next(it, 'connected')
  t.deepEqual(await next(it, 'gap'), { type: 'gap', reason: 'overflow' })
  t.like(eventOf(await next(it, 'oldest held')), { epoch: 7 })
})

test('while the agent is down the client says unreachable once, keeps retrying, and recovers', async (t) => {
  const path = join(socketDir(t), 'c.sock')
  // Something that accepts and hangs up at once, counting the attempts.
  let attempts = 0
  const refuser = createNetServer((socket) => {
    attempts++
    socket.destroy()
  })
  await new Promise<void>((resolve) => refuser.listen(path, resolve))
  const it = subscribe(t, new ControlClient({ socketPath: path }))
  const down = await next(it, 'unreachable')
  t.like(down, { type: 'state', state: 'unreachable' })

  // The consumer waits for news; meanwhile the client retries, reporting nothing more.
  const news = next(it, 'connected')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.true(attempts >= 3, `${attempts} attempts`)
  await new Promise((resolve) => refuser.close(resolve))
  const agent = new FakeAgent()
  await start(t, { socketPath: path }, agent)
  t.like(await news, { type: 'state', state: 'connected' })
  agent.hub.publish(election(9))
  t.like(eventOf(await next(it, 'event after recovery')), { epoch: 9 })
})

test('a client of an agent that never started reports it unreachable with the reason', async (t) => {
  const it = subscribe(t, new ControlClient({ socketPath: join(socketDir(t), 'none.sock') }))
  const down = await next(it, 'unreachable')
  t.like(down, { type: 'state', state: 'unreachable', retryInMs: FAST_RETRY.initialMs })
  t.regex((down as { error: Error }).error.message, /cannot reach the agent/)
})

test('a stream that goes silent (no heartbeat) is abandoned and reconnected', async (t) => {
  const path = join(socketDir(t), 'silent.sock')
  let connections = 0
  // An agent that says hello, promises heartbeats every 50 ms, then hangs.
  const hung = createServer((_req, res) => {
    connections++
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(`event: hello\ndata: ${JSON.stringify({ bootId: 'x', heartbeatMs: 50 })}\n\n`)
  })
  await new Promise<void>((resolve) => hung.listen(path, resolve))
  t.teardown(() => {
    hung.closeAllConnections()
    hung.close()
  })
  const it = subscribe(t, new ControlClient({ socketPath: path }))
  t.like(await next(it, 'connected'), { state: 'connected' })
  const silent = await next(it, 'unreachable', 5_000)
  t.like(silent, { state: 'unreachable' })
  t.regex((silent as { error: Error }).error.message, /went silent/)
  t.like(await next(it, 'reconnected'), { state: 'connected' })
  t.true(connections >= 2)
})

test('heartbeat comments keep an idle stream alive', async (t) => {
  const agent = new FakeAgent()
  const server = await start(t, { socketPath: join(socketDir(t), 'c.sock') }, agent, 40)
  // A watchdog shorter than the quiet period: only heartbeats keep it from firing.
  const it = subscribe(t, new ControlClient(server.address), { staleAfterMs: 300 })
  t.like(await next(it, 'connected'), { state: 'connected' })
  const item = next(it, 'e1') // the client is reading (and its watchdog running) while all is quiet
  await new Promise((resolve) => setTimeout(resolve, 700))
  agent.hub.publish(election(1))
  t.is((await item).type, 'event', 'no unreachable came before the event')
})

test('closing the server ends open event streams promptly', async (t) => {
  const agent = new FakeAgent()
  const server = await ControlServer.start({
    listen: { socketPath: join(socketDir(t), 'c.sock') },
    handlers: agent,
    events: agent.hub,
    closeGraceMs: 10_000,
  })
  const its = [0, 1, 2].map(() => subscribe(t, new ControlClient(server.address)))
  for (const it of its) await next(it, 'connected')
  t.is(agent.hub.listenerCount, 3)
  const t0 = performance.now()
  await server.close()
  t.true(performance.now() - t0 < 2_000, 'did not wait for the grace period')
  t.is(agent.hub.listenerCount, 0)
})

test('a stream refused with 401 throws instead of retrying', async (t) => {
  const agent = new FakeAgent()
  const server = await start(t, { host: '127.0.0.1', port: 0, token: TOKEN }, agent)
  const address = server.address as { host: string; port: number }
  const it = new ControlClient({ ...address, token: 'wrong-token-wrong-token' }).events({ retry: FAST_RETRY })
  const err = await t.throwsAsync(it.next(), { instanceOf: ControlApiError })
  t.is(err?.status, 401)
})

test('followLogs streams released output and resumes at the right byte after a drop', async (t) => {
  const agent = new FakeAgent()
  const listen = { socketPath: join(socketDir(t), 'c.sock') }
  const first = await start(t, listen, agent)
  const client = new ControlClient(first.address, { retry: FAST_RETRY })
  const signals: AbortSignal[] = []
  const logs = agent.logs.bind(agent)
  agent.logs = (name, query, ctx) => {
    signals.push(ctx.signal)
    return logs(name, query, ctx)
  }
  await client.run({ name: 'kv', image: '/kv.wasm', replicas: 3 })
  agent.release('kv', 'one ')
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const it = client.followLogs('kv', { signal: stop.signal })
  const text = async (what: string) => {
    const item = await next(it, what)
    if (item.type !== 'chunk') throw new Error(`expected a chunk, got ${JSON.stringify(item)}`)
    return Buffer.from(logChunkBytes(item.chunk)).toString()
  }
  t.like(await next(it, 'connected'), { state: 'connected' })
  t.is(await text('one'), 'one ')
  agent.release('kv', 'two ')
  t.is(await text('two'), 'two ')

  await first.close()
  t.true(signals[0]?.aborted, "closing the server ended the handler's stream")
  t.like(await next(it, 'unreachable'), { state: 'unreachable' })
  agent.release('kv', 'three ', 'stderr')
  await start(t, listen, agent)
  t.like(await next(it, 'connected'), { state: 'connected' })
  t.is(await text('three'), 'three ', 'neither repeated nor skipped')

  await client.stop('kv')
  t.true((await it.next()).done, 'the stream ends when the workload stops')
})
