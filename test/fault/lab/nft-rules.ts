/**
 * nftables rulesets for one site (pure). Two tables the lab owns in every site namespace:
 *
 * - `inet understudy_lab_guard`, for the whole run: other sites' own addresses are refused, so nothing
 *   bypasses the delay proxy, and IPv6 (link-local on the bridge) is dropped for the same reason.
 * - `inet understudy_lab`, only while a network fault is on: drops by the peer's addresses. A peer's
 *   traffic reaches a site only from the peer's proxy alias (the proxy binds its outgoing leg to it), so
 *   matching the alias cuts proxied connections too, established ones included (they stall as on a
 *   real partition and resume after heal if TCP has not given up).
 */
import type { SitePlan } from './addressing.ts'

export const GUARD_TABLE = 'understudy_lab_guard'
export const FAULT_TABLE = 'understudy_lab'

/** A direction in which packets are dropped: from `from`'s programs to `to`'s. */
export interface Cut {
  from: string
  to: string
}

export function guardRuleset(self: SitePlan, sites: readonly SitePlan[], allowDirect: boolean): string {
  const others = sites.filter((s) => s.name !== self.name).map((s) => s.host)
  const direct =
    !allowDirect && others.length > 0
      ? `    ip daddr ${set(others)} reject with icmpx type admin-prohibited\n`
      : ''
  return (
    replaceTable(GUARD_TABLE) +
    `table inet ${GUARD_TABLE} {\n` +
    '  chain output {\n' +
    '    type filter hook output priority 0; policy accept;\n' +
    '    oifname "lo" accept\n' +
    '    meta nfproto ipv6 drop\n' +
    direct +
    '  }\n' +
    '  chain input {\n' +
    '    type filter hook input priority 0; policy accept;\n' +
    '    iifname "lo" accept\n' +
    '    meta nfproto ipv6 drop\n' +
    '  }\n' +
    '}\n'
  )
}

/**
 * The fault table for `self` given every cut in force; with no cut touching the site, the table is
 * only deleted. `add` then `delete` first makes the delete succeed whether or not the table exists, and
 * the whole text is one nft transaction, so a site never sees a half-applied change.
 */
export function faultRuleset(self: SitePlan, sites: readonly SitePlan[], cuts: readonly Cut[]): string {
  const byName = new Map(sites.map((s) => [s.name, s]))
  const addrs = (name: string) => {
    const s = byName.get(name)
    return s ? [s.host, s.proxyHost] : []
  }
  const dropIn = cuts.filter((c) => c.to === self.name && c.from !== self.name).flatMap((c) => addrs(c.from))
  const dropOut = cuts.filter((c) => c.from === self.name && c.to !== self.name).flatMap((c) => addrs(c.to))
  let text = replaceTable(FAULT_TABLE)
  if (dropIn.length === 0 && dropOut.length === 0) return text
  text += `table inet ${FAULT_TABLE} {\n`
  text += '  chain input {\n    type filter hook input priority -10; policy accept;\n'
  if (dropIn.length > 0) text += `    ip saddr ${set(dropIn)} drop\n`
  text += '  }\n  chain output {\n    type filter hook output priority -10; policy accept;\n'
  if (dropOut.length > 0) text += `    ip daddr ${set(dropOut)} drop\n`
  text += '  }\n}\n'
  return text
}

/** Cuts for groups that cannot talk across: both directions between every two groups. */
export function partitionCuts(groups: readonly (readonly string[])[], sites: readonly string[]): Cut[] {
  const groupOf = new Map<string, number>()
  groups.forEach((group, i) => {
    for (const site of group) {
      if (!sites.includes(site)) throw new RangeError(`partition: no site named ${site}`)
      if (groupOf.has(site)) throw new RangeError(`partition: site ${site} is in two groups`)
      groupOf.set(site, i)
    }
  })
  const missing = sites.filter((s) => !groupOf.has(s))
  if (missing.length > 0)
    throw new RangeError(`partition: put every site in a group (missing ${missing.join(', ')})`)
  const cuts: Cut[] = []
  for (const from of sites) {
    for (const to of sites) {
      if (groupOf.get(from) !== groupOf.get(to)) cuts.push({ from, to })
    }
  }
  return cuts
}

export function isolateCuts(site: string, sites: readonly string[]): Cut[] {
  if (!sites.includes(site)) throw new RangeError(`isolate: no site named ${site}`)
  return sites
    .filter((s) => s !== site)
    .flatMap((other) => [
      { from: site, to: other },
      { from: other, to: site },
    ])
}

function replaceTable(table: string): string {
  return `add table inet ${table}\ndelete table inet ${table}\n`
}

function set(items: readonly string[]): string {
  return `{ ${[...new Set(items)].join(', ')} }`
}
