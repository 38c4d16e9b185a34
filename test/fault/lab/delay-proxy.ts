/**
 * The delay proxy: a child program the lab runs inside its router namespace (`ip netns exec`), steered
 * by JSON lines on stdin (see json-lines.ts). For each forwarded (site, port) it listens on the site's
 * alias address in the router and forwards to the site's own address. It knows the caller's site from
 * the source address and binds the outgoing leg to the caller's alias, so inside every site a peer's
 * traffic always carries the peer's alias — the partition rules rely on that.
 *
 * Known artefacts of a proxy: a connect succeeds at the caller as soon as the proxy accepts, before the
 * far side is reached; if the far side refuses or cannot be reached within connectTimeoutMs, the caller
 * gets a reset (ECONNRESET) instead of ECONNREFUSED/ETIMEDOUT.
 *
 * Requests: init {sites: [{name, host, proxyHost}], seed, connectTimeoutMs?}; forward {site, port};
 * link {from?, to?, settings} (omitted from/to: every direction); reset {from?, to?}; stats.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { createPrng, type Prng } from '../../../src/agent/group/prng.ts'
import { delayPipe, type LinkSettings, NO_DELAY, validLink } from './delay-line.ts'
import { type Message, serveLines } from './json-lines.ts'

interface Site {
  name: string
  host: string
  proxyHost: string
}

interface Connection {
  from: string
  to: string
  inbound: Socket
  outbound: Socket
  bytes: { forward: number; back: number }
}

const state = {
  sites: new Map<string, Site>(),
  byHost: new Map<string, string>(),
  links: new Map<string, LinkSettings>(),
  servers: new Map<string, Server>(),
  connections: new Set<Connection>(),
  rng: createPrng(1) as Prng,
  connectTimeoutMs: 5000,
}

const linkKey = (from: string, to: string) => `${from}>${to}`
const link = (from: string, to: string) => state.links.get(linkKey(from, to)) ?? NO_DELAY

function reset(c: Connection): void {
  for (const socket of [c.inbound, c.outbound]) {
    // resetAndDestroy on a socket still connecting would wait for the connect, which may never come.
    if (socket.destroyed) continue
    if (socket.connecting) socket.destroy()
    else socket.resetAndDestroy()
  }
}

function accept(target: Site, port: number, inbound: Socket): void {
  const from = state.byHost.get((inbound.remoteAddress ?? '').replace(/^::ffff:/, ''))
  const source = from === undefined ? undefined : state.sites.get(from)
  if (source === undefined) {
    inbound.resetAndDestroy()
    return
  }
  inbound.pause()
  const outbound = connect({ host: target.host, port, localAddress: source.proxyHost, allowHalfOpen: true })
  const c: Connection = {
    from: source.name,
    to: target.name,
    inbound,
    outbound,
    bytes: { forward: 0, back: 0 },
  }
  state.connections.add(c)
  const timer = setTimeout(() => reset(c), state.connectTimeoutMs)
  outbound.once('connect', () => {
    clearTimeout(timer)
    const pipes = [
      delayPipe(inbound, outbound, {
        settings: () => link(c.from, c.to),
        rng: state.rng,
        onReset: () => reset(c),
        onBytes: (n) => {
          c.bytes.forward += n
        },
      }),
      delayPipe(outbound, inbound, {
        settings: () => link(c.to, c.from),
        rng: state.rng,
        onReset: () => reset(c),
        onBytes: (n) => {
          c.bytes.back += n
        },
      }),
    ]
    const done = () => {
      for (const p of pipes) p.stop()
    }
    inbound.once('close', done)
    outbound.once('close', done)
  })
  // An error or an abrupt close on one leg resets the other: the caller sees what a broken path gives.
  for (const [self, other] of [
    [inbound, outbound],
    [outbound, inbound],
  ] as const) {
    self.on('error', () => {})
    self.once('close', (hadError) => {
      clearTimeout(timer)
      state.connections.delete(c)
      if (!other.destroyed && (hadError || !self.readableEnded)) reset(c)
    })
  }
}

async function forward(siteName: string, port: number): Promise<Message> {
  const site = state.sites.get(siteName)
  if (!site) throw new Error(`no site named ${siteName}`)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port ${port}`)
  const key = `${siteName}:${port}`
  if (!state.servers.has(key)) {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) =>
      accept(site, port, socket),
    )
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: site.proxyHost, port }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    state.servers.set(key, server)
  }
  return { host: site.proxyHost, port }
}

function pairs(from: unknown, to: unknown): [string, string][] {
  const names = [...state.sites.keys()]
  for (const name of [from, to]) {
    if (name !== undefined && !state.sites.has(String(name))) throw new Error(`no site named ${String(name)}`)
  }
  const out: [string, string][] = []
  for (const a of names) {
    for (const b of names) {
      if (a !== b && (from === undefined || from === a) && (to === undefined || to === b)) out.push([a, b])
    }
  }
  return out
}

serveLines(async (m) => {
  switch (m.op) {
    case 'init': {
      for (const site of m.sites as Site[]) {
        state.sites.set(site.name, site)
        state.byHost.set(site.host, site.name)
      }
      state.rng = createPrng(Number(m.seed ?? 1))
      if (typeof m.connectTimeoutMs === 'number') state.connectTimeoutMs = m.connectTimeoutMs
      return {}
    }
    case 'forward':
      return forward(String(m.site), Number(m.port))
    case 'link': {
      const settings = validLink((m.settings ?? {}) as Partial<LinkSettings>)
      for (const [a, b] of pairs(m.from, m.to)) state.links.set(linkKey(a, b), { ...link(a, b), ...settings })
      return {}
    }
    case 'reset': {
      let count = 0
      for (const c of [...state.connections]) {
        const match = (a: unknown, b: unknown) =>
          (m.from === undefined || m.from === a) && (m.to === undefined || m.to === b)
        if (match(c.from, c.to) || match(c.to, c.from)) {
          reset(c)
          count++
        }
      }
      return { count }
    }
    case 'stats':
      return {
        connections: [...state.connections].map((c) => ({ from: c.from, to: c.to, ...c.bytes })),
        links: Object.fromEntries(state.links),
      }
    default:
      throw new Error(`unknown request ${String(m.op)}`)
  }
})
