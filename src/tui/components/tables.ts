/** The columns of the workloads, peers and replicas tables, most important first. */
import type { PeerInfo, ReplicaInfo, WorkloadSummary } from '../api.ts'
import { ago, duration, mib, shortId } from '../format.ts'
import type { Column } from '../table.ts'

export function workloadColumns(now: number): Column<WorkloadSummary>[] {
  return [
    { title: 'NAME', min: 10, max: 32, flex: 2, priority: 0, cell: (w) => w.name },
    { title: 'STATE', min: 8, priority: 1, cell: (w) => w.state },
    { title: 'REPL', min: 4, priority: 2, cell: (w) => `${live(w.replicas)}/${w.replicasWanted}` },
    {
      title: 'PRIMARY',
      min: 12,
      max: 24,
      flex: 1,
      priority: 1,
      cell: (w, width) => shortId(w.primary, width),
    },
    // Peer ids differ only in their tails; the site says where the primary runs in words.
    { title: 'SITE', min: 7, max: 20, flex: 1, priority: 1, cell: (w) => primarySite(w) },
    { title: 'EPOCH', min: 5, align: 'right', priority: 2, cell: (w) => String(w.epoch) },
    { title: 'COMMIT', min: 7, align: 'right', priority: 3, cell: (w) => String(w.committedSeq) },
    { title: 'MAX LAG', min: 11, priority: 2, cell: (w) => maxLag(w.replicas) },
    { title: 'DIGEST', min: 6, priority: 3, cell: (w) => digestOf(w.replicas) },
    { title: 'UPTIME', min: 7, align: 'right', priority: 4, cell: (w) => duration(w.uptimeMs) },
    { title: 'OWNER', min: 10, max: 20, flex: 1, priority: 5, cell: (w, width) => shortId(w.owner, width) },
    { title: 'ROLES', min: 7, max: 15, flex: 1, priority: 6, cell: (w) => roles(w.replicas) },
    {
      title: 'LAST FAILOVER',
      min: 20,
      priority: 7,
      cell: (w) =>
        w.lastFailover ? `${ago(w.lastFailover.at, now)}, ${duration(w.lastFailover.tookMs)}` : '-',
    },
  ]
}

export function peerColumns(): Column<PeerInfo>[] {
  return [
    {
      title: 'PEER',
      min: 12,
      max: 54,
      flex: 2,
      priority: 0,
      cell: (p, width) => (p.self ? `${shortId(p.peerId, width - 2)} *` : shortId(p.peerId, width)),
    },
    { title: 'SITE', min: 8, max: 20, flex: 1, priority: 0, cell: (p) => p.site },
    { title: 'ORG', min: 8, max: 16, flex: 1, priority: 2, cell: (p) => p.org ?? '-' },
    { title: 'STATE', min: 11, priority: 0, cell: (p) => p.state },
    // An agent that does not measure a capacity reports 0 for it: shown as unknown, not as none.
    { title: 'CPU', min: 3, align: 'right', priority: 1, cell: (p) => known(p.capacity.cpus, String) },
    {
      title: 'MEM FREE',
      min: 11,
      priority: 1,
      cell: (p) =>
        p.capacity.memoryMiB > 0 ? `${mib(p.capacity.freeMemoryMiB)}/${mib(p.capacity.memoryMiB)}` : '-',
    },
    { title: 'RTT', min: 6, align: 'right', priority: 1, cell: (p) => (p.self ? '-' : rtt(p.rttMs)) },
    { title: 'VERSION', min: 7, max: 12, flex: 1, priority: 3, cell: (p) => p.version ?? '?' },
    { title: 'HOSTS', min: 5, align: 'right', priority: 4, cell: (p) => String(p.hosting.length) },
    { title: 'DISK', min: 6, align: 'right', priority: 5, cell: (p) => known(p.capacity.diskMiB, mib) },
    {
      title: 'LABELS',
      min: 10,
      flex: 1,
      priority: 6,
      cell: (p) =>
        Object.entries(p.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || '-',
    },
  ]
}

export function replicaColumns(): Column<ReplicaInfo>[] {
  return [
    { title: 'PEER', min: 12, max: 54, flex: 2, priority: 0, cell: (r, width) => shortId(r.peerId, width) },
    { title: 'SITE', min: 8, max: 20, flex: 1, priority: 1, cell: (r) => r.site },
    // An unreachable replica's role and counters are placeholders (the agent could not ask it).
    { title: 'ROLE', min: 13, priority: 0, cell: (r) => (r.reachable ? r.role : 'unreachable') },
    { title: 'EPOCH', min: 5, align: 'right', priority: 1, cell: (r) => ifReachable(r, r.epoch) },
    { title: 'COMMIT', min: 7, align: 'right', priority: 1, cell: (r) => ifReachable(r, r.committedSeq) },
    { title: 'LAG', min: 6, align: 'right', priority: 0, cell: (r) => entries(r.lagEntries) },
    { title: 'LAG MS', min: 7, align: 'right', priority: 0, cell: (r) => duration(r.lagMs) },
    { title: 'DIGEST', min: 8, priority: 0, cell: (r) => digestCell(r) },
    {
      title: 'UP',
      min: 7,
      align: 'right',
      priority: 2,
      cell: (r) => (r.reachable ? duration(r.uptimeMs) : 'down'),
    },
    { title: 'APPLIED', min: 7, align: 'right', priority: 3, cell: (r) => ifReachable(r, r.appliedSeq) },
    {
      title: 'CKPT',
      min: 6,
      align: 'right',
      priority: 4,
      cell: (r) => (r.reachable && r.checkpointSeq ? String(r.checkpointSeq) : '-'),
    },
  ]
}

/** The largest lag among the shadows, in entries and time: "12e/40ms". */
export function maxLag(replicas: readonly ReplicaInfo[]): string {
  let lagEntries: number | null = null
  let lagMs: number | null = null
  for (const r of replicas) {
    if (r.role === 'primary') continue
    if (r.lagEntries !== null) lagEntries = Math.max(lagEntries ?? 0, r.lagEntries)
    if (r.lagMs !== null) lagMs = Math.max(lagMs ?? 0, r.lagMs)
  }
  if (lagEntries === null && lagMs === null) return '-'
  return `${lagEntries ?? '?'}e/${duration(lagMs)}`
}

/** 'ok' when every replica agrees with the primary, 'DIVERGED' when one does not, '?' otherwise. */
export function digestOf(replicas: readonly ReplicaInfo[]): string {
  if (replicas.some((r) => r.digest === 'diverged')) return 'DIVERGED'
  if (replicas.length > 0 && replicas.every((r) => r.digest === 'agree')) return 'ok'
  return '?'
}

function digestCell(r: ReplicaInfo): string {
  if (r.digest === 'diverged') return r.divergedAtSeq === null ? 'DIVERGED' : `DIVERGED@${r.divergedAtSeq}`
  return r.digest === 'agree' ? 'agree' : '?'
}

/** One letter per replica: P primary, S shadow, C candidate, c pre-candidate, ? unknown, x unreachable. */
function roles(replicas: readonly ReplicaInfo[]): string {
  const letter = { primary: 'P', shadow: 'S', candidate: 'C', 'pre-candidate': 'c', unknown: '?' }
  return replicas.map((r) => (r.reachable ? letter[r.role] : 'x')).join('')
}

/** Where the primary runs, from its replica's entry. */
function primarySite(w: WorkloadSummary): string {
  return w.replicas.find((r) => r.peerId === w.primary)?.site ?? '-'
}

function known(n: number, show: (n: number) => string): string {
  return n > 0 ? show(n) : '-'
}

function ifReachable(r: ReplicaInfo, n: number): string {
  return r.reachable ? String(n) : '-'
}

function live(replicas: readonly ReplicaInfo[]): number {
  return replicas.filter((r) => r.reachable).length
}

function entries(n: number | null): string {
  return n === null ? '-' : String(n)
}

function rtt(ms: number | null): string {
  if (ms === null) return '-'
  return ms < 10 ? `${ms.toFixed(1)}ms` : duration(ms)
}
