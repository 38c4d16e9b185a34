import { EventEmitter, on } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import type {
  Caller,
  ControlHandlers,
  LogChunk,
  RequestContext,
  WorkloadDetail,
  WorkloadSummary,
} from '../../../src/agent/control/index.ts'
import { EventHub } from '../../../src/agent/control/index.ts'
import { ConflictError, ForbiddenError, UnknownWorkloadError } from '../../../src/errors/index.ts'

/**
 * A small agent behind the control API: workloads in memory, a failover that moves the primary and
 * publishes events, stdin echoed to released output. Enough to drive every route for real.
 */
export class FakeAgent implements ControlHandlers {
  readonly hub: EventHub
  readonly calls: { route: string; caller: Caller }[] = []
  readonly #workloads = new Map<
    string,
    WorkloadSummary & { output: LogChunk[]; outputBytes: number; ended: boolean }
  >()
  readonly #released = new EventEmitter()

  constructor(hub = new EventHub({ capacity: 64 })) {
    this.hub = hub
  }

  async status(ctx: RequestContext) {
    this.#called('status', ctx)
    return {
      peerId: '12D3KooWSelf',
      site: 'lab-a',
      org: 'physics',
      version: '0.1.0',
      startedAt: 1_000,
      uptimeMs: 5_000,
      peers: 2,
      workloads: this.#workloads.size,
    }
  }

  async peers(ctx: RequestContext) {
    this.#called('peers', ctx)
    const peer = (peerId: string, site: string, self: boolean) => ({
      peerId,
      self,
      site,
      org: 'physics',
      labels: { room: '101' },
      state: 'idle' as const,
      capacity: { cpus: 8, memoryMiB: 16_384, freeMemoryMiB: 12_000, diskMiB: 100_000 },
      rttMs: self ? 0 : 1.5,
      version: '0.1.0',
      hosting: [...this.#workloads.keys()],
    })
    return [peer('12D3KooWSelf', 'lab-a', true), peer('12D3KooWOther', 'lab-b', false)]
  }

  async workloads(ctx: RequestContext) {
    this.#called('workloads', ctx)
    return [...this.#workloads.values()].map(summary)
  }

  async workload(name: string, ctx: RequestContext): Promise<WorkloadDetail> {
    this.#called('workload', ctx)
    const w = this.#get(name)
    return {
      ...summary(w),
      image: 'sha256:abc',
      args: [],
      dataPolicy: ['replicas in at least 2 sites'],
      recentEvents: this.hub.recent().filter((e) => 'workload' in e && e.workload === name),
    }
  }

  async run(req: { name: string; replicas: number }, ctx: RequestContext) {
    this.#called('run', ctx)
    if (this.#workloads.has(req.name))
      throw new ConflictError(`a workload named ${req.name} is already running`)
    const replicas = Array.from({ length: req.replicas }, (_, i) => ({
      peerId: `peer-${i}`,
      site: `site-${i}`,
      role: i === 0 ? ('primary' as const) : ('shadow' as const),
      epoch: 1,
      committedSeq: 0,
      appliedSeq: 0,
      lagEntries: i === 0 ? null : 0,
      lagMs: i === 0 ? null : 0,
      digest: 'agree' as const,
      divergedAtSeq: null,
      reachable: true,
      uptimeMs: 0,
    }))
    const w = {
      name: req.name,
      owner: 'alice',
      state: 'running' as const,
      replicasWanted: req.replicas,
      replicas,
      primary: 'peer-0',
      epoch: 1,
      committedSeq: 0,
      startedAt: 2_000,
      uptimeMs: 0,
      lastFailover: undefined,
      output: [],
      outputBytes: 0,
      ended: false,
    }
    this.#workloads.set(req.name, w)
    this.hub.publish({ type: 'workload', workload: req.name, state: 'running', reason: undefined })
    return { workload: summary(w) }
  }

  async stop(name: string, _req: { keepData: boolean }, ctx: RequestContext) {
    this.#called('stop', ctx)
    const w = this.#get(name)
    w.state = 'stopped'
    w.ended = true
    this.#released.emit(name)
    this.hub.publish({ type: 'workload', workload: name, state: 'stopped', reason: 'asked' })
    return { name, state: w.state }
  }

  async failover(name: string, req: { to?: string | undefined }, ctx: RequestContext) {
    this.#called('failover', ctx)
    const w = this.#get(name)
    if (name.startsWith('locked')) {
      throw new ForbiddenError(`policy refuses a failover of ${name}`, [
        'data:owner-only: only the owner may move it',
      ])
    }
    const from = w.primary!
    const to = req.to ?? w.replicas.find((r) => r.role === 'shadow')!.peerId
    w.epoch++
    w.primary = to
    for (const r of w.replicas) r.role = r.peerId === to ? 'primary' : 'shadow'
    w.lastFailover = { at: 3_000, from, to, epoch: w.epoch, reason: 'drill', tookMs: 42 }
    this.hub.publish({ type: 'election', workload: name, candidate: to, epoch: w.epoch, outcome: 'won' })
    this.hub.publish({
      type: 'promotion',
      workload: name,
      peerId: to,
      epoch: w.epoch,
      tookMs: 42,
      detectionMs: 0,
      electionMs: 30,
      promotionMs: 12,
    })
    return { name, from, to, epoch: w.epoch, tookMs: 42 }
  }

  async explain(name: string, ctx: RequestContext) {
    this.#called('explain', ctx)
    const w = this.#get(name)
    return {
      name,
      decidedAt: 2_000,
      summary: `${w.replicas.length} replicas in ${w.replicas.length} sites`,
      candidates: w.replicas.map((r) => ({
        peerId: r.peerId,
        site: r.site,
        org: 'physics',
        chosen: true,
        role: r.role,
        reasons: ['idle', 'distinct site'],
      })),
    }
  }

  async logs(name: string, query: { from: number; follow: boolean }, ctx: RequestContext) {
    this.#called('logs', ctx)
    const w = this.#get(name)
    const released = this.#released
    async function* chunks(): AsyncGenerator<LogChunk> {
      let next = query.from
      let index = 0
      for (;;) {
        for (; index < w.output.length; index++) {
          const c = w.output[index]!
          const bytes = Buffer.from(c.data, 'base64')
          const end = c.offset + bytes.length
          if (end <= next) continue
          const skip = Math.max(0, next - c.offset)
          yield { ...c, offset: c.offset + skip, data: bytes.subarray(skip).toString('base64') }
          next = end
        }
        if (!query.follow || w.ended) return
        // Wait for the next release (or the end, or the client leaving).
        for await (const _ of on(released, name, { signal: ctx.signal })) break
      }
    }
    return chunks()
  }

  async stdin(name: string, req: { data: string; eof: boolean }, ctx: RequestContext) {
    this.#called('stdin', ctx)
    const bytes = Buffer.from(req.data, 'base64')
    this.release(name, `echo: ${bytes.toString('utf8')}`)
    return { accepted: bytes.length, seq: this.#get(name).committedSeq }
  }

  /** The guest "prints" text; it is released at once (its entry counts as committed). */
  release(name: string, text: string, stream: 'stdout' | 'stderr' = 'stdout'): void {
    const w = this.#get(name)
    const bytes = Buffer.from(text)
    w.committedSeq++
    w.output.push({ offset: w.outputBytes, seq: w.committedSeq, stream, data: bytes.toString('base64') })
    w.outputBytes += bytes.length
    this.#released.emit(name)
  }

  #get(name: string) {
    const w = this.#workloads.get(name)
    if (!w) throw new UnknownWorkloadError(name)
    return w
  }

  #called(route: string, ctx: RequestContext): void {
    this.calls.push({ route, caller: ctx.caller })
  }
}

function summary(w: WorkloadSummary): WorkloadSummary {
  const { output: _o, outputBytes: _b, ended: _e, ...rest } = w as WorkloadSummary & Record<string, unknown>
  return structuredClone(rest) as WorkloadSummary
}

/** A directory for sockets, removed when the test ends. */
export function socketDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'us-ctl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export const TOKEN = 'test-token-0123456789abcdef'
