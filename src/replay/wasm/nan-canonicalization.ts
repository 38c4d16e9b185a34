/**
 * NaN canonicalization. WebAssembly leaves the sign and payload of a NaN that
 * arithmetic produces unspecified, and V8's two compilers do not agree, so a
 * NaN's bits must never reach anything the guest can observe. They can be
 * observed only where a float becomes bits:
 *
 *   - f32.store / f64.store (memory),
 *   - i32.reinterpret_f32 / i64.reinterpret_f64,
 *   - the sign operand of copysign,
 *   - global.set of a float global (globals are part of the state digest),
 *   - f32x4/f64x2 splat and replace_lane (a scalar enters a v128, whose lanes
 *     can be read back as integers).
 *
 * There each value passes through a helper that turns any NaN into the
 * canonical one (positive, quiet, zero payload). A value that is a constant or
 * a load of the same type is left alone: its bits are already deterministic.
 *
 * SIMD: a v128 has no lane type, so canonicalizing at v128.store would corrupt
 * integer data that happens to look like a NaN. Instead the result of every
 * float-lane SIMD operation that can make a NaN (arithmetic, min/max, rounding,
 * promote/demote) is canonicalized where it is produced. abs, neg, pmin, pmax
 * and the conversions from integers only move bits or cannot make a NaN.
 */
import binaryen from 'binaryen'
import { ir } from './binaryen-ir.ts'
import type { ExpressionRef } from './expression-walker.ts'

const CANON_F32 = '__understudy_canon_f32'
const CANON_F64 = '__understudy_canon_f64'
const CANON_F32X4 = '__understudy_canon_f32x4'
const CANON_F64X2 = '__understudy_canon_f64x2'

/** Bits of the canonical NaNs. */
export const CANONICAL_NAN_F32 = 0x7fc00000
export const CANONICAL_NAN_F64_HIGH = 0x7ff80000

function ops(names: string[]): Set<number> {
  const lib = binaryen as unknown as Record<string, unknown>
  return new Set(
    names.map((n) => {
      const v = lib[n]
      if (typeof v !== 'number') throw new Error(`binaryen.${n} is missing`)
      return v
    }),
  )
}

const laneArith = ['Add', 'Sub', 'Mul', 'Div', 'Min', 'Max', 'Sqrt', 'Ceil', 'Floor', 'Trunc', 'Nearest']
const F32X4_PRODUCERS = ops([...laneArith.map((o) => `${o}VecF32x4`), 'DemoteZeroVecF64x2ToVecF32x4'])
const F64X2_PRODUCERS = ops([...laneArith.map((o) => `${o}VecF64x2`), 'PromoteLowVecF32x4ToVecF64x2'])

/** Adds the helper functions; returns the visitor that inserts calls to them. */
export function nanCanonicalizer(module: binaryen.Module) {
  const counts = { scalar: 0, vector: 0 }
  // Added on first use, so a module without SIMD stays without SIMD.
  const added = new Set<string>()
  const helper = (name: string) => {
    if (!added.has(name)) {
      addHelper(module, name)
      added.add(name)
    }
    return name
  }

  const wrapScalar = (value: ExpressionRef, type: number): ExpressionRef | undefined => {
    const id = binaryen.getExpressionId(value)
    if (id === binaryen.ConstId) return undefined
    if (id === binaryen.LoadId && binaryen.getExpressionType(value) === type) return undefined
    if (binaryen.getExpressionType(value) !== type) return undefined // unreachable code
    counts.scalar++
    return module.call(helper(type === binaryen.f32 ? CANON_F32 : CANON_F64), [value], type)
  }

  const visit = (expr: ExpressionRef, replace: (next: ExpressionRef) => void) => {
    switch (binaryen.getExpressionId(expr)) {
      case binaryen.StoreId: {
        if (ir.Store.isAtomic(expr)) return
        const type = ir.Store.getValueType(expr)
        if (type !== binaryen.f32 && type !== binaryen.f64) return
        const wrapped = wrapScalar(ir.Store.getValue(expr), type)
        if (wrapped !== undefined) ir.Store.setValue(expr, wrapped)
        return
      }
      case binaryen.UnaryId: {
        const op = ir.Unary.getOp(expr)
        const scalarType =
          op === binaryen.ReinterpretFloat32 || op === binaryen.SplatVecF32x4
            ? binaryen.f32
            : op === binaryen.ReinterpretFloat64 || op === binaryen.SplatVecF64x2
              ? binaryen.f64
              : undefined
        if (scalarType !== undefined) {
          const wrapped = wrapScalar(ir.Unary.getValue(expr), scalarType)
          if (wrapped !== undefined) ir.Unary.setValue(expr, wrapped)
          return
        }
        wrapVector(expr, op, replace)
        return
      }
      case binaryen.BinaryId: {
        const op = ir.Binary.getOp(expr)
        const type =
          op === binaryen.CopySignFloat32
            ? binaryen.f32
            : op === binaryen.CopySignFloat64
              ? binaryen.f64
              : undefined
        if (type !== undefined) {
          const wrapped = wrapScalar(ir.Binary.getRight(expr), type)
          if (wrapped !== undefined) ir.Binary.setRight(expr, wrapped)
          return
        }
        wrapVector(expr, op, replace)
        return
      }
      case binaryen.SIMDReplaceId: {
        const op = ir.SIMDReplace.getOp(expr)
        const type =
          op === binaryen.ReplaceLaneVecF32x4
            ? binaryen.f32
            : op === binaryen.ReplaceLaneVecF64x2
              ? binaryen.f64
              : undefined
        if (type === undefined) return
        const wrapped = wrapScalar(ir.SIMDReplace.getValue(expr), type)
        if (wrapped !== undefined) ir.SIMDReplace.setValue(expr, wrapped)
        return
      }
      case binaryen.GlobalSetId: {
        const value = ir.GlobalSet.getValue(expr)
        const type = binaryen.getExpressionType(value)
        if (type !== binaryen.f32 && type !== binaryen.f64) return
        const wrapped = wrapScalar(value, type)
        if (wrapped !== undefined) ir.GlobalSet.setValue(expr, wrapped)
        return
      }
    }
  }

  const wrapVector = (expr: ExpressionRef, op: number, replace: (next: ExpressionRef) => void) => {
    if (binaryen.getExpressionType(expr) !== binaryen.v128) return
    const name = F32X4_PRODUCERS.has(op) ? CANON_F32X4 : F64X2_PRODUCERS.has(op) ? CANON_F64X2 : undefined
    if (name === undefined) return
    counts.vector++
    replace(module.call(helper(name), [expr], binaryen.v128))
  }

  return { visit, counts }
}

/** x => x != x ? canonical NaN : x, lane-wise for the vector helpers. */
function addHelper(module: binaryen.Module, name: string) {
  const x = (type: number) => module.local.get(0, type)
  const f32 = () => x(binaryen.f32)
  const f64 = () => x(binaryen.f64)
  const v = () => x(binaryen.v128)
  const lanes = (bytesPerLane: number, highWord: number) => {
    const bytes = new Uint8Array(16)
    const view = new DataView(bytes.buffer)
    for (let at = 0; at < 16; at += bytesPerLane) view.setUint32(at + bytesPerLane - 4, highWord, true)
    return bytes
  }
  switch (name) {
    case CANON_F32:
      module.addFunction(
        name,
        binaryen.f32,
        binaryen.f32,
        [],
        module.select(module.f32.ne(f32(), f32()), module.f32.const_bits(CANONICAL_NAN_F32), f32()),
      )
      return
    case CANON_F64:
      module.addFunction(
        name,
        binaryen.f64,
        binaryen.f64,
        [],
        module.select(
          module.f64.ne(f64(), f64()),
          module.f64.const_bits(BigInt(CANONICAL_NAN_F64_HIGH) << 32n),
          f64(),
        ),
      )
      return
    case CANON_F32X4:
      module.addFunction(
        name,
        binaryen.v128,
        binaryen.v128,
        [],
        module.v128.bitselect(module.v128.const(lanes(4, CANONICAL_NAN_F32)), v(), module.f32x4.ne(v(), v())),
      )
      return
    case CANON_F64X2:
      module.addFunction(
        name,
        binaryen.v128,
        binaryen.v128,
        [],
        module.v128.bitselect(
          module.v128.const(lanes(8, CANONICAL_NAN_F64_HIGH)),
          v(),
          module.f64x2.ne(v(), v()),
        ),
      )
      return
  }
}

/** Names of the helpers (the call-depth pass leaves them alone). */
export const NAN_HELPERS: readonly string[] = [CANON_F32, CANON_F64, CANON_F32X4, CANON_F64X2]
