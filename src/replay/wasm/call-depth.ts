/**
 * A deterministic stack limit. Where V8 throws "Maximum call stack size
 * exceeded" depends on the compiler tier (Liftoff frames are several times
 * larger than TurboFan's) and on --stack-size, so a recursion that overflowed
 * while recording might not while replaying. Instead, every function that
 * makes calls adds an estimate of its frame size to a global on entry and
 * subtracts it on exit; crossing the budget calls an import that ends the run
 * with a stack-overflow outcome, at the same point in every run.
 *
 * The estimate is an upper bound of V8's frames (measured on recursions with
 * 0 to 200 i32/i64/f64 locals, with and without Asyncify: Liftoff used at most
 * 1/1.3 of the estimate, TurboFan less), so with the default budget (640 KiB
 * of Node's 984 KiB stack) the engine's own overflow never comes first, and
 * the rest is headroom for host calls. Leaf functions are not counted (the
 * headroom covers one frame).
 *
 * Runs after Asyncify: entry accounting is skipped while rewinding and exit
 * accounting while unwinding, so an unwound-and-rewound stack is counted once.
 */
import binaryen from 'binaryen'
import { ir } from './binaryen-ir.ts'
import { walkExpression } from './expression-walker.ts'

export const STACK_USED_GLOBAL = '__understudy_stack_used'

/** Estimated bytes of a frame: a fixed part and one per local (params included). */
export const FRAME_BASE_BYTES = 96
export const FRAME_BYTES_PER_LOCAL = 20
/** A leaf function this large is counted anyway. */
const LEAF_LIMIT_BYTES = 16 * 1024

const EXIT_LABEL = '__understudy_exit'
const ASYNCIFY_REWINDING = 2
const ASYNCIFY_NORMAL = 0

export interface CallDepthOptions {
  /** Functions to instrument (the guest's own). */
  functions: readonly string[]
  /** Calls that do not make a function a non-leaf (helpers that never recurse). */
  leafCalls: ReadonlySet<string>
  /** Asyncify's state global, or undefined when Asyncify did not run. */
  asyncifyState: string | undefined
  /** Budget in estimated bytes. */
  budget: number
  /** The import called when the budget is exceeded (it throws). */
  overflowFunction: string
}

export function addCallDepthLimit(module: binaryen.Module, options: CallDepthOptions): { counted: number } {
  module.addGlobal(STACK_USED_GLOBAL, binaryen.i32, true, module.i32.const(0))
  const used = () => module.global.get(STACK_USED_GLOBAL, binaryen.i32)
  const state = options.asyncifyState
  let counted = 0
  for (const name of options.functions) {
    const func = module.getFunction(name)
    const info = binaryen.getFunctionInfo(func)
    if (info.body === 0) continue
    let calls = false
    let instrumented = false
    const returns: [number, (next: number) => void][] = []
    walkExpression(
      info.body,
      (next) => ir.Function.setBody(func, next),
      (expr, replace) => {
        const id = binaryen.getExpressionId(expr)
        if (id === binaryen.CallId) {
          if (!options.leafCalls.has(ir.Call.getTarget(expr))) calls = true
        } else if (id === binaryen.CallIndirectId) calls = true
        else if (id === binaryen.ReturnId) returns.push([expr, replace])
        else if (id === binaryen.GlobalGetId && ir.GlobalGet.getName(expr) === state) instrumented = true
      },
    )
    const results = info.results
    const locals = ir.Function.getNumLocals(func) + (results === binaryen.none ? 0 : 1)
    const weight = FRAME_BASE_BYTES + FRAME_BYTES_PER_LOCAL * locals
    if (!calls && weight <= LEAF_LIMIT_BYTES) continue
    counted++

    // Innermost first: a return nested in another's value is rewritten before its parent moves.
    for (const [ret, replace] of returns.reverse()) {
      const value = ir.Return.getValue(ret)
      replace(module.br(EXIT_LABEL, undefined, value === 0 ? undefined : value))
    }
    const enter = module.block(null, [
      module.global.set(STACK_USED_GLOBAL, module.i32.add(used(), module.i32.const(weight))),
      module.if(
        module.i32.gt_u(used(), module.i32.const(options.budget)),
        module.call(options.overflowFunction, [], binaryen.none),
      ),
    ])
    const leave = module.global.set(STACK_USED_GLOBAL, module.i32.sub(used(), module.i32.const(weight)))
    const stateIs = (op: 'ne' | 'eq', value: number) =>
      module.i32[op](module.global.get(state ?? '', binaryen.i32), module.i32.const(value))
    const prologue = instrumented ? module.if(stateIs('ne', ASYNCIFY_REWINDING), enter) : enter
    const epilogue = instrumented ? module.if(stateIs('eq', ASYNCIFY_NORMAL), leave) : leave
    const body = module.block(EXIT_LABEL, [ir.Function.getBody(func)], results)
    if (results === binaryen.none) {
      ir.Function.setBody(func, module.block(null, [prologue, body, epilogue], binaryen.none))
    } else {
      const index = addVar(func, results)
      ir.Function.setBody(
        func,
        module.block(
          null,
          [prologue, module.local.set(index, body), epilogue, module.local.get(index, results)],
          results,
        ),
      )
    }
  }
  return { counted }
}

function addVar(func: number, type: number): number {
  const lib = binaryen as unknown as { _BinaryenFunctionAddVar: (f: number, t: number) => number }
  return lib._BinaryenFunctionAddVar(func, type)
}
