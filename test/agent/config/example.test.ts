import { readFile } from 'node:fs/promises'
import test from 'ava'
import { CONFIG_PATH_ENV, ENV_OVERRIDES, loadConfig } from '../../../src/agent/config/index.ts'

const EXAMPLE = new URL('../../../config/agent.example.json', import.meta.url).pathname
const README = new URL('../../../config/README.md', import.meta.url).pathname

test('the example config validates and sets what it shows', async (t) => {
  const config = await loadConfig({ path: EXAMPLE, env: {} })
  t.is(config.dataDir, '/var/lib/understudy')
  t.is(config.site, 'physics-b204')
  t.deepEqual(config.control, { kind: 'unix', socket: '/var/lib/understudy/control.sock' })
  t.deepEqual(config.hostPolicy.schedule.hours, [{ from: 18, to: 8 }])
  t.true(config.metrics.enabled)
})

test('the config README documents every key and every environment variable', async (t) => {
  const readme = await readFile(README, 'utf8')
  // A table row whose first cell is `text` (biome pads the cells).
  const row = (text: string) => new RegExp(`^\\|\\s*\`${text.replace(/[.$]/g, '\\$&')}\`\\s*\\|`, 'm')
  for (const o of [...ENV_OVERRIDES, { name: CONFIG_PATH_ENV, path: [] }]) {
    t.regex(readme, row(o.name), `${o.name} is not in config/README.md`)
    if (o.path.length > 0) t.regex(readme, row(o.path.join('.')), `${o.path.join('.')} has no row`)
  }
})

test('the example shows every key of the config', async (t) => {
  const example = JSON.parse(await readFile(EXAMPLE, 'utf8')) as Record<string, unknown>
  const shown = new Set<string>()
  const walk = (value: unknown, prefix: string) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || prefix === 'labels') return
    for (const [key, child] of Object.entries(value)) {
      const path = prefix === '' ? key : `${prefix}.${key}`
      shown.add(path)
      walk(child, path)
    }
  }
  walk(example, '')
  // Alternatives to what the example uses, or mesh settings most labs leave alone.
  const notShown = new Set([
    'announce',
    'dhtMode',
    'protocolPrefix',
    'control.host',
    'control.port',
    'control.tokenFile',
  ])
  for (const o of ENV_OVERRIDES) {
    const path = o.path.join('.')
    if (!notShown.has(path)) t.true(shown.has(path), `${path} is not shown in the example`)
  }
})
