import test from 'ava'
import { createLogger, prettyLine } from '../../../src/agent/observability/index.ts'

function capture(isTTY: boolean) {
  const chunks: string[] = []
  return { chunks, destination: { write: (s: string) => chunks.push(s), isTTY } }
}

test('when not writing to a terminal, each record is one JSON line with level, time, msg and component', (t) => {
  const out = capture(false)
  const logger = createLogger({ level: 'info', destination: out.destination, name: 'agent' })
  const mesh = logger.child({ component: 'mesh' })
  mesh.info({ peer: '12D3KooWabc' }, 'connected')
  mesh.error({ err: new Error('dial failed') }, 'bootstrap peer unreachable')

  const text = out.chunks.join('')
  t.true(text.endsWith('\n'))
  const lines = text.trimEnd().split('\n')
  t.is(lines.length, 2)
  const first = JSON.parse(lines[0]!) as Record<string, unknown>
  t.is(first.level, 'info')
  t.is(first.msg, 'connected')
  t.is(first.component, 'mesh')
  t.is(first.name, 'agent')
  t.is(first.peer, '12D3KooWabc')
  t.true(typeof first.time === 'string' && !Number.isNaN(Date.parse(first.time)), String(first.time))
  const second = JSON.parse(lines[1]!) as { level: string; err: { message: string; stack: string } }
  t.is(second.level, 'error')
  t.is(second.err.message, 'dial failed')
  t.true(second.err.stack.includes('Error: dial failed'))
})

test('records below the level are not written, and every level from trace to fatal has its label', (t) => {
  const out = capture(false)
  const logger = createLogger({ level: 'warn', destination: out.destination })
  logger.debug('hidden')
  logger.info('hidden too')
  logger.warn('shown')
  t.deepEqual(
    out.chunks.map((c) => (JSON.parse(c) as { msg: string }).msg),
    ['shown'],
  )

  const all = capture(false)
  const verbose = createLogger({ level: 'trace', destination: all.destination })
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const) verbose[level](level)
  t.deepEqual(
    all.chunks.map((c) => (JSON.parse(c) as { level: string }).level),
    ['trace', 'debug', 'info', 'warn', 'error', 'fatal'],
  )
})

test('on a terminal each record is one readable line, not JSON', (t) => {
  const out = capture(true)
  const logger = createLogger({ destination: out.destination, colors: false })
  logger
    .child({ component: 'group' })
    .warn({ workload: 'kv', epoch: 4, note: 'two words' }, 'lost the primary')
  t.is(out.chunks.length, 1)
  t.regex(
    out.chunks[0]!,
    /^\d\d:\d\d:\d\d\.\d{3} WARN {2}group: lost the primary workload=kv epoch=4 note="two words"\n$/,
  )
})

test('an error on a terminal shows its stack below the line', (t) => {
  const out = capture(true)
  createLogger({ destination: out.destination, colors: false }).error(
    { err: new Error('disk full') },
    'store failed',
  )
  const [line, ...stack] = out.chunks.join('').trimEnd().split('\n')
  t.regex(line!, /ERROR store failed$/)
  t.is(stack[0], '    Error: disk full')
  t.true(stack.length > 1)
})

test("format 'json' writes JSON even to a terminal, and 'pretty' writes lines even to a pipe", (t) => {
  const tty = capture(true)
  createLogger({ format: 'json', destination: tty.destination }).info('hello')
  t.is((JSON.parse(tty.chunks[0]!) as { msg: string }).msg, 'hello')

  const pipe = capture(false)
  createLogger({ format: 'pretty', destination: pipe.destination }).info('hello')
  t.regex(pipe.chunks[0]!, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}hello\n$/)
})

test('tokens and authorization headers are redacted', (t) => {
  const out = capture(false)
  createLogger({ destination: out.destination }).info(
    { token: 'secret-1', headers: { authorization: 'Bearer secret-2' } },
    'request',
  )
  t.false(out.chunks.join('').includes('secret'))
  t.true(out.chunks.join('').includes('[redacted]'))
})

test('the pretty format passes a line that is not JSON through unchanged', (t) => {
  t.is(prettyLine('plain text from elsewhere', false), 'plain text from elsewhere')
  t.is(prettyLine('[1,2]', false), '[1,2]')
})

test('by default a logger writes JSON lines to standard output when it is a pipe', async (t) => {
  const { spawnSync } = await import('node:child_process')
  const module = new URL('../../../src/agent/observability/logger.ts', import.meta.url).href
  const script = `import { createLogger } from ${JSON.stringify(module)}
createLogger().child({ component: 'mesh' }).info({ n: 1 }, 'from a child process')`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  const record = JSON.parse(r.stdout) as Record<string, unknown>
  t.like(record, { level: 'info', component: 'mesh', n: 1, msg: 'from a child process', name: 'understudy' })
})
