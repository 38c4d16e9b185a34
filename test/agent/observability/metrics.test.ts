import { createServer } from 'node:net'
import test from 'ava'
import { register as globalRegistry } from 'prom-client'
import { createMetrics, serveMetrics } from '../../../src/agent/observability/index.ts'
import { ListenError } from '../../../src/errors/index.ts'

const DECLARED: Array<[string, string]> = [
  ['understudy_entries_appended_total', 'counter'],
  ['understudy_entries_committed_total', 'counter'],
  ['understudy_commit_latency_seconds', 'histogram'],
  ['understudy_shadow_lag_entries', 'gauge'],
  ['understudy_shadow_lag_seconds', 'gauge'],
  ['understudy_elections_total', 'counter'],
  ['understudy_failovers_total', 'counter'],
  ['understudy_failover_duration_seconds', 'histogram'],
  ['understudy_policy_refusals_total', 'counter'],
  ['understudy_build_info', 'gauge'],
  ['process_cpu_seconds_total', 'counter'],
  ['nodejs_eventloop_lag_seconds', 'gauge'],
]

test('the metrics endpoint serves every declared metric in the Prometheus text format over HTTP', async (t) => {
  const metrics = createMetrics({ version: '0.1.0' })
  metrics.entriesAppended.inc({ workload: 'kv' }, 3)
  metrics.commitLatency.observe({ workload: 'kv' }, 0.004)
  metrics.shadowLagEntries.set({ workload: 'kv', member: '12D3KooWshadow' }, 17)
  metrics.failoverDuration.observe({ workload: 'kv', phase: 'total' }, 0.8)
  metrics.policyRefusals.inc({ reason: 'org-not-allowed' })

  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const server = await serveMetrics({
    registry: metrics.registry,
    host: '127.0.0.1',
    port: 0,
    signal: controller.signal,
  })
  t.is(server.host, '127.0.0.1')
  t.true(server.port > 0)
  t.is(server.url, `http://127.0.0.1:${server.port}/metrics`)

  const res = await fetch(server.url)
  t.is(res.status, 200)
  t.regex(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  const body = await res.text()
  for (const [name, type] of DECLARED) t.true(body.includes(`# TYPE ${name} ${type}\n`), `${name} ${type}`)
  t.true(body.includes('understudy_entries_appended_total{workload="kv"} 3\n'))
  t.true(body.includes('understudy_commit_latency_seconds_bucket{le="0.005",workload="kv"} 1\n'))
  t.true(body.includes('understudy_shadow_lag_entries{workload="kv",member="12D3KooWshadow"} 17\n'))
  t.true(body.includes('understudy_failover_duration_seconds_count{workload="kv",phase="total"} 1\n'))
  t.true(body.includes('understudy_policy_refusals_total{reason="org-not-allowed"} 1\n'))
  t.regex(
    body,
    /understudy_build_info\{version="0\.1\.0",store_format="\d+",log_wire="\d+",log_frame="\d+"\} 1\n/,
  )
})

test('anything but GET /metrics is refused', async (t) => {
  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const { port } = await serveMetrics({
    registry: createMetrics().registry,
    port: 0,
    signal: controller.signal,
  })
  const base = `http://127.0.0.1:${port}`
  t.is((await fetch(`${base}/`)).status, 404)
  t.is((await fetch(`${base}/metrics/x`)).status, 404)
  const post = await fetch(`${base}/metrics`, { method: 'POST' })
  t.is(post.status, 405)
  t.is(post.headers.get('allow'), 'GET, HEAD')
  t.is((await fetch(`${base}/metrics?name=x`)).status, 200)
})

test('the server stops when its signal is aborted', async (t) => {
  const controller = new AbortController()
  const server = await serveMetrics({
    registry: createMetrics().registry,
    port: 0,
    signal: controller.signal,
  })
  t.is((await fetch(server.url)).status, 200)
  controller.abort()
  await server.closed
  await t.throwsAsync(fetch(server.url))
})

test('an aborted signal starts nothing', async (t) => {
  const controller = new AbortController()
  controller.abort()
  await t.throwsAsync(
    serveMetrics({ registry: createMetrics().registry, port: 0, signal: controller.signal }),
  )
})

test('extra sources (such as libp2p metrics) are served after ours', async (t) => {
  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const ours = createMetrics({ defaultMetrics: false })
  const extra = {
    metrics: () =>
      '# HELP libp2p_connections Open connections.\n# TYPE libp2p_connections gauge\nlibp2p_connections 5\n',
  }
  const server = await serveMetrics({
    registry: ours.registry,
    sources: [extra],
    port: 0,
    signal: controller.signal,
  })
  const body = await (await fetch(server.url)).text()
  t.true(body.includes('understudy_failovers_total'))
  t.true(body.endsWith('libp2p_connections 5\n'))
})

test('each agent gets its own registry, never the global one', async (t) => {
  const a = createMetrics({ defaultMetrics: false })
  const b = createMetrics({ defaultMetrics: false })
  a.failovers.inc({ workload: 'kv' })
  t.true((await a.registry.metrics()).includes('understudy_failovers_total{workload="kv"} 1\n'))
  t.false((await b.registry.metrics()).includes('workload="kv"'))
  t.is(globalRegistry.getSingleMetric('understudy_failovers_total'), undefined)
})

test('a port in use gives a ListenError naming the address', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const err = await t.throwsAsync(
    serveMetrics({ registry: createMetrics().registry, port, signal: controller.signal }),
    {
      instanceOf: ListenError,
    },
  )
  t.is(err.address, `127.0.0.1:${port}`)
  t.true(err.message.includes('set metrics.port'), err.message)
})
