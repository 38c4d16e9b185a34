import { join } from 'node:path'
import { stripVTControlCharacters } from 'node:util'
import type { ExecutionContext } from 'ava'
import { render } from 'ink-testing-library'
import { createElement as h } from 'react'
import { type ControlAddress, ControlClient, ControlServer } from '../../src/agent/control/index.ts'
import { App, TuiStore } from '../../src/tui/index.ts'
import { FakeAgent, socketDir } from '../agent/control/fake-agent.ts'

/** Fast polls and retries: the tests wait for what the screen shows, never for a fixed time. */
export const FAST = { pollMs: 150, retry: { initialMs: 50, maxMs: 300 } }

/** A real control server on a Unix socket, fed by the scripted FakeAgent; closed when the test ends. */
export async function startAgent(t: ExecutionContext, socketPath = join(socketDir(t), 'c.sock')) {
  const agent = new FakeAgent()
  const server = await ControlServer.start({
    listen: { socketPath },
    handlers: agent,
    events: agent.hub,
    heartbeatMs: 500,
    closeGraceMs: 100,
  })
  t.teardown(() => server.close())
  return { agent, server, address: server.address, client: new ControlClient(server.address) }
}

/** Launches a workload through the control API, as `understudy run` would. */
export async function launch(client: ControlClient, name: string, replicas = 3) {
  await client.run({ name, image: '/images/kv.wasm', replicas })
}

export type Rendered = ReturnType<typeof render> & { store: TuiStore; quits: number[] }

/** How the rendered TUI talks to its agent: real agents ask their peers, and need longer than the fake. */
export interface TuiTiming {
  pollMs?: number
  /** Each call to the agent gives up after this long. */
  timeoutMs?: number
}

/**
 * Renders the TUI against the agent at `address` in a terminal of `columns` × `rows`. ink-testing-library's
 * stdout is 100 columns wide and has no rows: both are set on it and announced with a resize, as a terminal does.
 */
export function renderTui(
  t: ExecutionContext,
  address: ControlAddress,
  size: { columns: number; rows: number } = { columns: 80, rows: 24 },
  timing: TuiTiming = {},
): Rendered {
  const client = new ControlClient(address, { timeoutMs: timing.timeoutMs ?? 2_000, retry: FAST.retry })
  const store = new TuiStore({ client, pollMs: timing.pollMs ?? FAST.pollMs, retry: FAST.retry })
  const quits: number[] = []
  store.start()
  const r = render(h(App, { store, where: label(address), onQuit: () => quits.push(Date.now()) }))
  Object.defineProperty(r.stdout, 'columns', { get: () => size.columns, configurable: true })
  Object.defineProperty(r.stdout, 'rows', { get: () => size.rows, configurable: true })
  r.stdout.emit('resize')
  t.teardown(async () => {
    r.unmount()
    await store.close()
  })
  return Object.assign(r, { store, quits })
}

/** The last frame as plain text lines (colours and styles removed). */
export function screen(r: { lastFrame: () => string | undefined }): string[] {
  return stripVTControlCharacters(r.lastFrame() ?? '').split('\n')
}

/** Waits until the screen satisfies `ok` (polling the frames), failing with the last screen after `ms`. */
export async function waitForScreen(
  r: { lastFrame: () => string | undefined },
  ok: (lines: string[], text: string) => boolean,
  what: string,
  ms = 15_000,
): Promise<string[]> {
  const deadline = Date.now() + ms
  for (;;) {
    const lines = screen(r)
    if (ok(lines, lines.join('\n'))) return lines
    if (Date.now() > deadline)
      throw new Error(`the screen never showed ${what}; last screen:\n${lines.join('\n')}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Waits until `text` is on screen. */
export function waitForText(r: { lastFrame: () => string | undefined }, text: string | RegExp, ms?: number) {
  return waitForScreen(
    r,
    (_, all) => (typeof text === 'string' ? all.includes(text) : text.test(all)),
    String(text),
    ms,
  )
}

export const KEYS = {
  up: '\u001B[A',
  down: '\u001B[B',
  left: '\u001B[D',
  enter: '\r',
  tab: '\t',
  escape: '\u001B',
  ctrlC: '\u0003',
}

function label(address: ControlAddress): string {
  return 'socketPath' in address ? address.socketPath : `${address.host}:${address.port}`
}
