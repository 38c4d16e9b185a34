/**
 * A placement in the control API's words (`understudy explain`): every peer considered,
 * whether it was chosen and as what, the reasons, and one summary line that says what was
 * placed, or which rule kept the placement from being made.
 */

import type { Explanation, PlacementCandidate } from '../../control/api-types.ts'
import type { Placement, PlacementRequest } from '../../policy/index.ts'
import { shortId } from '../../policy/index.ts'

export function explanationOf(
  request: PlacementRequest,
  placement: Placement,
  decidedAt: number,
): Explanation {
  const byPeer = new Map(request.candidates.map((candidate) => [candidate.peerId, candidate]))
  const roles = new Map(placement.chosen.map((replica) => [replica.peerId, replica.role]))
  const candidates = placement.considered.map((peer): PlacementCandidate => {
    const status = byPeer.get(peer.peerId)
    return {
      peerId: peer.peerId,
      site: status?.site ?? '',
      org: status?.org === '' ? undefined : status?.org,
      chosen: peer.chosen,
      role: roles.get(peer.peerId),
      reasons: peer.reasons,
    }
  })
  return { name: request.manifest.name, decidedAt, summary: summaryOf(request, placement), candidates }
}

function summaryOf(request: PlacementRequest, placement: Placement): string {
  const { manifest } = request
  const placed = placement.chosen
    .map((replica) => `${replica.role} on ${shortId(replica.peerId)} (site ${JSON.stringify(replica.site)})`)
    .join(', ')
  if (placement.satisfied) {
    const kept = request.keep?.length ?? 0
    const what =
      kept > 0 ? `${placement.chosen.length} new beside ${kept} kept` : `${placement.chosen.length}`
    return `placed ${what} of ${manifest.replicas} replicas of ${manifest.name}: ${placed || 'nothing new was needed'}`
  }
  const shortfall = placement.shortfall ?? `workload ${manifest.name} cannot be placed`
  if (placement.partial) {
    return `partial placement, fewer replicas or sites than asked: ${placed}. ${shortfall}`
  }
  return `no placement satisfies the policies: ${shortfall}`
}
