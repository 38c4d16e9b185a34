/** A mesh peer's advertised status as placement judges it. */
import type { Candidate } from '../../mesh/index.ts'
import type { CandidateStatus } from '../../policy/index.ts'

export function candidateStatusOf(c: Candidate): CandidateStatus {
  return {
    peerId: c.peerId.toString(),
    site: c.status.site,
    org: c.status.org,
    labels: c.status.labels,
    idle: c.status.ownerIdle,
    cpuFree: c.status.cpu.free,
    memFreeMiB: Math.round(c.status.memory.freeBytes / 2 ** 20),
    hostedWorkloads: c.status.workloads.length,
    rttMs: c.rttMs,
    localHour: new Date().getHours(),
    ...(c.status.hostPolicy !== undefined ? { hostPolicy: c.status.hostPolicy } : {}),
  }
}
