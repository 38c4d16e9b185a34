import type { ErrorBody } from '../../control/api-types.ts'
import { ForbiddenError, UnderstudyError } from '../../errors/index.ts'

/** HTTP status of each error code a handler may throw; codes not listed answer 500. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  ERR_BAD_REQUEST: 400,
  ERR_BODY_TOO_LARGE: 400,
  ERR_USAGE: 400,
  ERR_CONFIG: 400,
  ERR_INVALID_MODULE: 400,
  ERR_MANIFEST_INVALID: 400,
  ERR_POLICY_INVALID: 400,
  ERR_CEDAR_SYNTAX: 400,
  ERR_CEDAR_SCHEMA: 400,
  ERR_USER_KEY: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_FORBIDDEN: 403,
  ERR_MANIFEST_UNSIGNED: 403,
  ERR_MANIFEST_TAMPERED: 403,
  ERR_MANIFEST_NOT_OWNER: 403,
  ERR_NOT_FOUND: 404,
  ERR_UNKNOWN_WORKLOAD: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_CONFLICT: 409,
  ERR_NOT_PRIMARY: 409,
  ERR_AGENT_UNREACHABLE: 503,
}

/** The status and body for an error a handler threw (or the server raised). */
export function errorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof UnderstudyError) {
    const body: ErrorBody = { error: { code: err.code, message: err.message } }
    if (err instanceof ForbiddenError && err.reasons.length > 0) body.error.reasons = [...err.reasons]
    return { status: STATUS_BY_CODE[err.code] ?? 500, body }
  }
  const message = err instanceof Error ? err.message : String(err)
  return {
    status: 500,
    body: { error: { code: 'ERR_INTERNAL', message: `internal error in the agent: ${message}` } },
  }
}
