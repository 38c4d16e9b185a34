/**
 * The lab's names and addresses (pure). One private /24 per run: the router's bridge is .1, site i
 * lives at .(11+i), and the proxy's alias that stands for site i at .(101+i). Other sites reach site i
 * only at its alias, so every packet of site i's traffic carries the alias as its source or destination
 * inside the other sites; that is what the partition rules match on.
 */
import { createPrng } from '../../../src/agent/group/prng.ts'

export const MAX_SITES = 80

export interface SitePlan {
  name: string
  /** The site's network namespace. */
  namespace: string
  /** Where the site's programs listen. */
  host: string
  /** The proxy's alias in the router: where other sites reach this one. */
  proxyHost: string
}

export interface LabPlan {
  /** Prefix of every namespace of this run, `us-<pid>-<hex>`. */
  name: string
  routerNamespace: string
  subnet: string
  routerHost: string
  sites: SitePlan[]
}

const SITE_NAME = /^[a-z][a-z0-9]{0,7}$/
const LAB_NAME = /^([a-z]{1,8})-(\d+)-[0-9a-f]+$/

export function planLab(name: string, sites: readonly string[], octets: readonly [number, number]): LabPlan {
  if (sites.length < 1 || sites.length > MAX_SITES) {
    throw new RangeError(`a lab has 1 to ${MAX_SITES} sites, not ${sites.length}`)
  }
  const seen = new Set<string>()
  for (const site of sites) {
    if (!SITE_NAME.test(site) || site === 'r') {
      throw new RangeError(`site name ${JSON.stringify(site)}: use 1-8 lowercase letters/digits, not "r"`)
    }
    if (seen.has(site)) throw new RangeError(`site ${site} is listed twice`)
    seen.add(site)
  }
  const net = `10.${octets[0]}.${octets[1]}`
  return {
    name,
    routerNamespace: `${name}-r`,
    subnet: `${net}.0/24`,
    routerHost: `${net}.1`,
    sites: sites.map((site, i) => ({
      name: site,
      namespace: `${name}-${site}`,
      host: `${net}.${11 + i}`,
      proxyHost: `${net}.${101 + i}`,
    })),
  }
}

/** `us-<pid>-<hex>`: the pid lets cleanupStale tell a crashed run from a live one. */
export function labName(prefix: string, pid: number, random: number): string {
  return `${prefix}-${pid}-${(random >>> 0).toString(16).padStart(8, '0')}`
}

/** The pid of the process that created a lab namespace, or undefined when the name is not the lab's. */
export function ownerPid(namespace: string, prefix: string): number | undefined {
  const match = LAB_NAME.exec(namespace.split('-').slice(0, 3).join('-'))
  if (!match || match[1] !== prefix) return undefined
  return Number(match[2])
}

/** Parses `a.b.c.d[/len]` into a network number and a prefix length; undefined for what is not IPv4. */
export function parseCidr(cidr: string): { base: number; length: number } | undefined {
  const [ip, len] = cidr.split('/')
  const parts = (ip ?? '').split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined
  const length = len === undefined ? 32 : Number(len)
  if (!Number.isInteger(length) || length < 0 || length > 32) return undefined
  const value = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0
  return { base: (value & mask(length)) >>> 0, length }
}

function mask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0
}

function overlaps(a: { base: number; length: number }, b: { base: number; length: number }): boolean {
  const m = mask(Math.min(a.length, b.length))
  return (a.base & m) >>> 0 === (b.base & m) >>> 0
}

/**
 * Picks 10.a.b.0/24 from the seed, avoiding every route the host has (the default route is not a
 * clash: the lab's namespaces have no route out at all).
 */
export function chooseSubnet(seed: number, routes: readonly string[]): [number, number] {
  const taken = routes.flatMap((r) => {
    if (r === 'default') return []
    const parsed = parseCidr(r)
    return parsed && parsed.length > 0 ? [parsed] : []
  })
  const rng = createPrng(seed)
  for (let attempt = 0; attempt < 2000; attempt++) {
    const a = 1 + rng.int(254)
    const b = rng.int(256)
    const candidate = { base: ((10 << 24) | (a << 16) | (b << 8)) >>> 0, length: 24 }
    if (!taken.some((t) => overlaps(t, candidate))) return [a, b]
  }
  throw new Error(
    'no free 10.x.y.0/24: the host routes all of 10.0.0.0/8; remove a route or use another host',
  )
}
