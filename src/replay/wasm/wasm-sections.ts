/**
 * Reads the few facts the load-time checks need straight from the module's
 * binary sections (header, imports, memories, start), without binaryen or V8:
 * so garbage is told apart from a real module, and a cached module's imports
 * can be checked again without decoding its code.
 */
import { InvalidModuleError } from '../../errors/index.ts'

export type ImportKind = 'function' | 'table' | 'memory' | 'global' | 'tag'

export interface ModuleImport {
  module: string
  name: string
  kind: ImportKind
}

export interface MemoryLimits {
  min: bigint
  max: bigint | undefined
  shared: boolean
  memory64: boolean
}

export interface ModuleSections {
  imports: ModuleImport[]
  /** Memories the module defines itself (imported ones are in `imports`). */
  memories: MemoryLimits[]
  hasStart: boolean
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d]
const importKinds: ImportKind[] = ['function', 'table', 'memory', 'global', 'tag']

export function readSections(bytes: Uint8Array): ModuleSections {
  checkHeader(bytes)
  const r = new Reader(bytes, 8)
  const out: ModuleSections = { imports: [], memories: [], hasStart: false }
  while (!r.done()) {
    const id = r.byte()
    const size = r.u32()
    const end = r.pos + size
    if (end > bytes.length) throw malformed(`section ${id} runs past the end of the file`)
    const s = new Reader(bytes.subarray(0, end), r.pos)
    if (id === 2) readImports(s, out.imports)
    else if (id === 5) {
      const n = s.u32()
      for (let i = 0; i < n; i++) out.memories.push(readLimits(s))
    } else if (id === 8) out.hasStart = true
    r.pos = end
  }
  return out
}

/** Rejects anything that is not a WebAssembly core module, saying what it looks like instead. */
export function checkHeader(bytes: Uint8Array) {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ')
    throw new InvalidModuleError(
      `not a WebAssembly module: a .wasm file starts with 00 61 73 6d ("\\0asm"), this one with ${head || 'nothing (it is empty)'}`,
    )
  }
  const version = bytes[4]! | (bytes[5]! << 8)
  const layer = bytes[6]! | (bytes[7]! << 8)
  if (layer === 1) {
    throw new InvalidModuleError(
      'this is a WebAssembly component (component model), not a core module: build the guest for WASI preview 1 (e.g. --target wasm32-wasip1)',
    )
  }
  if (version !== 1 || layer !== 0) {
    throw new InvalidModuleError(`unsupported WebAssembly binary version ${version} (expected 1)`)
  }
}

function readImports(r: Reader, out: ModuleImport[]) {
  const n = r.u32()
  for (let i = 0; i < n; i++) {
    const module = r.name()
    const name = r.name()
    const kindByte = r.byte()
    const kind = importKinds[kindByte]
    if (kind === undefined) throw malformed(`import ${module}.${name} has unknown kind ${kindByte}`)
    out.push({ module, name, kind })
    switch (kind) {
      case 'function':
        r.u32()
        break
      case 'table':
        r.valtype()
        readLimits(r)
        break
      case 'memory':
        readLimits(r)
        break
      case 'global':
        r.valtype()
        r.byte()
        break
      case 'tag':
        r.byte()
        r.u32()
        break
    }
  }
}

function readLimits(r: Reader): MemoryLimits {
  const flags = r.byte()
  const memory64 = (flags & 4) !== 0
  const min = memory64 ? r.u64() : BigInt(r.u32())
  const max = (flags & 1) !== 0 ? (memory64 ? r.u64() : BigInt(r.u32())) : undefined
  if ((flags & 8) !== 0) r.u32() // custom page size
  return { min, max, shared: (flags & 2) !== 0, memory64 }
}

function malformed(why: string) {
  return new InvalidModuleError(`malformed WebAssembly module: ${why}`)
}

class Reader {
  readonly bytes: Uint8Array
  pos: number

  constructor(bytes: Uint8Array, pos: number) {
    this.bytes = bytes
    this.pos = pos
  }

  done() {
    return this.pos >= this.bytes.length
  }

  byte(): number {
    const b = this.bytes[this.pos]
    if (b === undefined) throw malformed('unexpected end of section')
    this.pos++
    return b
  }

  u32(): number {
    return Number(this.u64())
  }

  u64(): bigint {
    let result = 0n
    let shift = 0n
    for (;;) {
      const b = this.byte()
      result |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return result
      shift += 7n
      if (shift > 70n) throw malformed('LEB128 number too long')
    }
  }

  name(): string {
    const len = this.u32()
    if (this.pos + len > this.bytes.length) throw malformed('name runs past the end of its section')
    const s = new TextDecoder('utf-8', { fatal: false }).decode(this.bytes.subarray(this.pos, this.pos + len))
    this.pos += len
    return s
  }

  valtype() {
    const t = this.byte()
    // (ref null? ht): a heap type follows as a signed LEB.
    if (t === 0x63 || t === 0x64) this.u64()
  }
}
