/**
 * The escape hatch: Cedar policies an admin writes by hand, next to the host policy. They
 * are checked against the schema when loaded, so a typo stops the agent at start with a
 * line and column instead of silently never matching. Each policy's id is its `@id("…")`
 * annotation (else its position), prefixed "admin:"; its `@reason("…")` annotation, if
 * any, is the sentence a decision quotes.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs'
import { CedarPolicyError } from '../errors/index.ts'
import type { CompiledPolicies } from './compile.ts'
import { CEDAR_SCHEMA } from './schema.ts'

/** Parses and validates admin-written Cedar; throws CedarPolicyError with the 1-based line and column. */
export function loadAdminCedar(text: string): CompiledPolicies {
  const answer = cedar.validate({ schema: CEDAR_SCHEMA, policies: { staticPolicies: text } })
  if (answer.type === 'failure') throw positioned('ERR_CEDAR_SYNTAX', text, answer.errors[0])
  const invalid = answer.validationErrors[0]
  if (invalid != null) throw positioned('ERR_CEDAR_SCHEMA', text, invalid.error)

  const parts = cedar.policySetTextToParts(text)
  if (parts.type === 'failure') throw positioned('ERR_CEDAR_SYNTAX', text, parts.errors[0])
  const out: CompiledPolicies = {
    policies: {},
    rules: {},
    warnings: answer.validationWarnings.map((warning) => warning.error.message),
  }
  let searchFrom = 0
  parts.policies.forEach((part, index) => {
    const found = text.indexOf(part, searchFrom)
    if (found >= 0) searchFrom = found + part.length
    const line = found >= 0 ? lineColumn(text, found).line : undefined
    const json = cedar.policyToJson(part)
    if (json.type === 'failure') throw positioned('ERR_CEDAR_SYNTAX', text, json.errors[0])
    const annotations = json.json.annotations ?? {}
    const id = `admin:${annotations.id ?? index + 1}`
    if (id in out.policies) {
      const at = lineColumn(text, Math.max(found, 0))
      throw new CedarPolicyError(
        'ERR_CEDAR_SYNTAX',
        at.line,
        at.column,
        `two admin policies have the id "${id}"`,
      )
    }
    const where = `admin policy ${id}${line == null ? '' : ` (line ${line})`}`
    const summary =
      annotations.reason ?? `${where} ${json.json.effect === 'forbid' ? 'forbids' : 'permits'} this`
    out.policies[id] = part
    out.rules[id] = {
      source: 'admin',
      summary,
      explain: () => (annotations.reason == null ? summary : `${where}: ${annotations.reason}`),
    }
  })
  return out
}

function positioned(
  code: 'ERR_CEDAR_SYNTAX' | 'ERR_CEDAR_SCHEMA',
  text: string,
  error: cedar.DetailedError | undefined,
): CedarPolicyError {
  const location = error?.sourceLocations?.[0]
  const { line, column } = lineColumn(text, byteToCharOffset(text, location?.start ?? 0))
  const detail = [error?.message ?? 'invalid Cedar', location?.label, error?.help].filter(Boolean).join('; ')
  return new CedarPolicyError(
    code,
    line,
    column,
    `admin Cedar policy, line ${line}, column ${column}: ${detail}`,
  )
}

/** Cedar reports UTF-8 byte offsets; JavaScript strings count UTF-16 units. */
function byteToCharOffset(text: string, byteOffset: number): number {
  const bytes = new TextEncoder().encode(text)
  return new TextDecoder().decode(bytes.subarray(0, byteOffset)).length
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset)
  const lineStart = before.lastIndexOf('\n') + 1
  return { line: before.split('\n').length, column: offset - lineStart + 1 }
}
