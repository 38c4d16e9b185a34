/** Cedar source text for the names the compiler emits: string literals and entity uids. */
import { NAMESPACE, type PolicyAction } from './schema.ts'

/** A Cedar string literal; escapes what Cedar would read as syntax. */
export function cedarString(value: string): string {
  const escaped = value.replace(/[\\"\u0000-\u001f\u007f]/g, (char) => {
    if (char === '\\' || char === '"') return `\\${char}`
    return `\\u{${char.charCodeAt(0).toString(16)}}`
  })
  return `"${escaped}"`
}

export type EntityType = 'User' | 'Peer' | 'Workload'

export function entityUid(type: EntityType, id: string): string {
  return `${NAMESPACE}::${type}::${cedarString(id)}`
}

export function actionUid(action: PolicyAction | 'holds-data'): string {
  return `${NAMESPACE}::Action::${cedarString(action)}`
}

export function actionList(actions: ReadonlyArray<PolicyAction | 'holds-data'>): string {
  return `[${actions.map(actionUid).join(', ')}]`
}

export function entityList(type: EntityType, ids: readonly string[]): string {
  return `[${ids.map((id) => entityUid(type, id)).join(', ')}]`
}

export function stringList(values: readonly string[]): string {
  return `[${values.map(cedarString).join(', ')}]`
}
