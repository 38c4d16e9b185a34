/**
 * Typings for the parts of binaryen.js's expression API that its index.d.ts
 * leaves out (the per-kind getters and setters: binaryen.Store.getValue, ...).
 */
import binaryen from 'binaryen'

type Ref = number

interface BinaryenIr {
  Function: {
    getBody(func: Ref): Ref
    setBody(func: Ref, body: Ref): void
    getNumLocals(func: Ref): number
  }
  Call: { getTarget(e: Ref): string; isReturn(e: Ref): boolean }
  CallIndirect: { isReturn(e: Ref): boolean }
  GlobalGet: { getName(e: Ref): string }
  GlobalSet: { getValue(e: Ref): Ref; setValue(e: Ref, v: Ref): void }
  Return: { getValue(e: Ref): Ref }
  MemoryGrow: { getDelta(e: Ref): Ref }
  Load: { isAtomic(e: Ref): boolean }
  Store: {
    isAtomic(e: Ref): boolean
    getValueType(e: Ref): number
    getValue(e: Ref): Ref
    setValue(e: Ref, v: Ref): void
  }
  Unary: { getOp(e: Ref): number; getValue(e: Ref): Ref; setValue(e: Ref, v: Ref): void }
  Binary: { getOp(e: Ref): number; getRight(e: Ref): Ref; setRight(e: Ref, v: Ref): void }
  SIMDTernary: { getOp(e: Ref): number }
  SIMDReplace: { getOp(e: Ref): number; getValue(e: Ref): Ref; setValue(e: Ref, v: Ref): void }
}

export const ir = binaryen as unknown as BinaryenIr
