import type {
  AgentStatus,
  Explanation,
  FailoverResponse,
  LogChunk,
  LogsQuery,
  PeerInfo,
  RunResponse,
  StdinResponse,
  StopResponse,
  ValidFailoverRequest,
  ValidRunRequest,
  ValidStdinRequest,
  ValidStopRequest,
  WorkloadDetail,
  WorkloadSummary,
} from '../../control/api-types.ts'

/**
 * Who is calling. The Unix socket is mode 0600, so whoever connects through it runs as the agent's
 * user or as root: the local admin. Over TCP, the bearer token stands for the same person.
 */
export interface Caller {
  transport: 'unix' | 'tcp'
  /** The request came from this host's admin (policy's `localAdmin`). */
  localAdmin: boolean
  /** A name for the audit log: 'local-admin (unix socket)' or 'local-admin (token)'. */
  principal: string
}

/** Given to every handler: who asks, and a signal aborted when the client goes away or the server closes. */
export interface RequestContext {
  caller: Caller
  signal: AbortSignal
}

/**
 * What the agent implements for the control API: one function per route, typed requests already
 * validated. Throw UnderstudyErrors to answer with an error: UnknownWorkloadError → 404,
 * ForbiddenError → 403 (with its reasons), ConflictError or NotPrimaryError → 409, BadRequestError → 400;
 * anything else → 500.
 */
export interface ControlHandlers {
  status(ctx: RequestContext): Promise<AgentStatus>
  peers(ctx: RequestContext): Promise<PeerInfo[]>
  workloads(ctx: RequestContext): Promise<WorkloadSummary[]>
  workload(name: string, ctx: RequestContext): Promise<WorkloadDetail>
  run(request: ValidRunRequest, ctx: RequestContext): Promise<RunResponse>
  stop(name: string, request: ValidStopRequest, ctx: RequestContext): Promise<StopResponse>
  failover(name: string, request: ValidFailoverRequest, ctx: RequestContext): Promise<FailoverResponse>
  explain(name: string, ctx: RequestContext): Promise<Explanation>
  /**
   * The workload's released output from `query.from`. Resolve (or throw UnknownWorkloadError) before
   * any output is due. Without `query.follow` the iterable ends at the output released so far; with it,
   * it goes on until `ctx.signal` aborts (the client left) or the workload ends.
   */
  logs(name: string, query: LogsQuery, ctx: RequestContext): Promise<AsyncIterable<LogChunk>>
  stdin(name: string, request: ValidStdinRequest, ctx: RequestContext): Promise<StdinResponse>
}
