/**
 * A generic walk over binaryen IR with the power to replace any child in
 * place. binaryen.js has no expression walker of its own; this one knows the
 * children of every expression kind the supported feature set can produce and
 * refuses the others (so a kind it does not know can never be skipped silently).
 */
import binaryen from 'binaryen'
import { InvalidModuleError } from '../../errors/index.ts'

export type ExpressionRef = number

/** Called for each expression (pre-order). `replace` swaps it for another in its parent. */
export type Visitor = (expr: ExpressionRef, replace: (next: ExpressionRef) => void) => void

type Child = [ExpressionRef, (next: ExpressionRef) => void]

/**
 * Walks `root` and everything below it, children after their parent. A
 * visitor may replace the expression it is given (the walk then continues into
 * the original expression's children, which the replacement may wrap).
 * Iterative: binaryen trees from real programs nest deeper than the JS stack.
 */
export function walkExpression(root: ExpressionRef, setRoot: (next: ExpressionRef) => void, visit: Visitor) {
  const stack: Child[] = [[root, setRoot]]
  while (stack.length > 0) {
    const item = stack.pop()
    if (item === undefined) break
    const [expr, replace] = item
    if (expr === 0) continue
    visit(expr, replace)
    pushChildren(expr, stack)
  }
}

/** The printable name of an expression id (for error messages). */
export function expressionKindName(id: number): string {
  return idNames.get(id) ?? `expression #${id}`
}

/**
 * The id of an expression kind by name. binaryen.js leaves some ids (TryTable,
 * TableFill, ...) off its JS object; the C API still has them.
 */
export function expressionId(kind: string): number {
  const lib = binaryen as unknown as Record<string, unknown>
  const value = lib[`${kind}Id`]
  if (typeof value === 'number') return value
  const getter = lib[`_Binaryen${kind}Id`]
  if (typeof getter === 'function') return getter() as number
  throw new Error(`binaryen has no expression kind ${kind}`)
}

const idNames = new Map<number, string>(
  Object.keys(binaryen)
    .map((key) => /^_Binaryen(\w+)Id$/.exec(key)?.[1])
    .filter((kind): kind is string => kind !== undefined && kind !== 'Invalid')
    .map((kind) => [expressionId(kind), kind]),
)

const B = binaryen as unknown as Record<string, Record<string, (...a: number[]) => number>>

function child(stack: Child[], expr: ExpressionRef, cls: string, field: string) {
  const c = B[cls]
  if (c === undefined) throw new Error(`binaryen.${cls} is missing`)
  const get = c[`get${field}`]
  const set = c[`set${field}`]
  if (get === undefined || set === undefined) throw new Error(`binaryen.${cls}.get/set${field} is missing`)
  const value = get(expr)
  if (value !== 0) stack.push([value, (next) => set(expr, next)])
}

function listed(stack: Child[], expr: ExpressionRef, cls: string, count: string, item: string) {
  const c = B[cls]
  if (c === undefined) throw new Error(`binaryen.${cls} is missing`)
  const n = c[`getNum${count}`]?.(expr) ?? 0
  const get = c[`get${item}At`]
  const set = c[`set${item}At`]
  if (get === undefined || set === undefined) throw new Error(`binaryen.${cls}.get/set${item}At is missing`)
  // Pushed in reverse so they are visited in order.
  for (let i = n - 1; i >= 0; i--) {
    const value = get(expr, i)
    if (value !== 0) stack.push([value, (next) => set(expr, i, next)])
  }
}

function pushChildren(expr: ExpressionRef, stack: Child[]) {
  const id = binaryen.getExpressionId(expr)
  switch (id) {
    case binaryen.BlockId:
      return listed(stack, expr, 'Block', 'Children', 'Child')
    case binaryen.IfId:
      child(stack, expr, 'If', 'IfFalse')
      child(stack, expr, 'If', 'IfTrue')
      return child(stack, expr, 'If', 'Condition')
    case binaryen.LoopId:
      return child(stack, expr, 'Loop', 'Body')
    case binaryen.BreakId:
      child(stack, expr, 'Break', 'Condition')
      return child(stack, expr, 'Break', 'Value')
    case binaryen.SwitchId:
      child(stack, expr, 'Switch', 'Condition')
      return child(stack, expr, 'Switch', 'Value')
    case binaryen.CallId:
      return listed(stack, expr, 'Call', 'Operands', 'Operand')
    case binaryen.CallIndirectId:
      child(stack, expr, 'CallIndirect', 'Target')
      return listed(stack, expr, 'CallIndirect', 'Operands', 'Operand')
    case binaryen.LocalSetId:
      return child(stack, expr, 'LocalSet', 'Value')
    case binaryen.GlobalSetId:
      return child(stack, expr, 'GlobalSet', 'Value')
    case binaryen.LoadId:
      return child(stack, expr, 'Load', 'Ptr')
    case binaryen.StoreId:
      child(stack, expr, 'Store', 'Value')
      return child(stack, expr, 'Store', 'Ptr')
    case binaryen.UnaryId:
      return child(stack, expr, 'Unary', 'Value')
    case binaryen.BinaryId:
      child(stack, expr, 'Binary', 'Right')
      return child(stack, expr, 'Binary', 'Left')
    case binaryen.SelectId:
      child(stack, expr, 'Select', 'Condition')
      child(stack, expr, 'Select', 'IfFalse')
      return child(stack, expr, 'Select', 'IfTrue')
    case binaryen.DropId:
      return child(stack, expr, 'Drop', 'Value')
    case binaryen.ReturnId:
      return child(stack, expr, 'Return', 'Value')
    case binaryen.MemoryGrowId:
      return child(stack, expr, 'MemoryGrow', 'Delta')
    case binaryen.SIMDExtractId:
      return child(stack, expr, 'SIMDExtract', 'Vec')
    case binaryen.SIMDReplaceId:
      child(stack, expr, 'SIMDReplace', 'Value')
      return child(stack, expr, 'SIMDReplace', 'Vec')
    case binaryen.SIMDShuffleId:
      child(stack, expr, 'SIMDShuffle', 'Right')
      return child(stack, expr, 'SIMDShuffle', 'Left')
    case binaryen.SIMDTernaryId:
      child(stack, expr, 'SIMDTernary', 'C')
      child(stack, expr, 'SIMDTernary', 'B')
      return child(stack, expr, 'SIMDTernary', 'A')
    case binaryen.SIMDShiftId:
      child(stack, expr, 'SIMDShift', 'Shift')
      return child(stack, expr, 'SIMDShift', 'Vec')
    case binaryen.SIMDLoadId:
      return child(stack, expr, 'SIMDLoad', 'Ptr')
    case binaryen.SIMDLoadStoreLaneId:
      child(stack, expr, 'SIMDLoadStoreLane', 'Vec')
      return child(stack, expr, 'SIMDLoadStoreLane', 'Ptr')
    case binaryen.MemoryInitId:
      child(stack, expr, 'MemoryInit', 'Size')
      child(stack, expr, 'MemoryInit', 'Offset')
      return child(stack, expr, 'MemoryInit', 'Dest')
    case binaryen.MemoryCopyId:
      child(stack, expr, 'MemoryCopy', 'Size')
      child(stack, expr, 'MemoryCopy', 'Source')
      return child(stack, expr, 'MemoryCopy', 'Dest')
    case binaryen.MemoryFillId:
      child(stack, expr, 'MemoryFill', 'Size')
      child(stack, expr, 'MemoryFill', 'Value')
      return child(stack, expr, 'MemoryFill', 'Dest')
    case binaryen.RefIsNullId:
      return child(stack, expr, 'RefIsNull', 'Value')
    case binaryen.TableGetId:
      return child(stack, expr, 'TableGet', 'Index')
    case binaryen.TupleMakeId:
      return listed(stack, expr, 'TupleMake', 'Operands', 'Operand')
    case binaryen.TupleExtractId:
      return child(stack, expr, 'TupleExtract', 'Tuple')
    case binaryen.LocalGetId:
    case binaryen.GlobalGetId:
    case binaryen.ConstId:
    case binaryen.MemorySizeId:
    case binaryen.NopId:
    case binaryen.UnreachableId:
    case binaryen.DataDropId:
    case binaryen.RefNullId:
    case binaryen.RefFuncId:
    case binaryen.TableSizeId:
      return
    default:
      throw new InvalidModuleError(
        `the module uses ${expressionKindName(id)} instructions, which understudy does not support ` +
          '(supported: WebAssembly 1.0 with mutable globals, sign extension, non-trapping conversions, ' +
          'bulk memory, multi-value, reference types and SIMD)',
      )
  }
}
