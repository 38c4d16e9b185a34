/**
 * A linear memory as checkpoints hold it: its size and its non-zero 64 KiB
 * pages (a guest's memory is mostly zero: heap never touched, stack unused).
 */
export const PAGE_BYTES = 65536

export interface MemoryPage {
  index: number
  bytes: Uint8Array
}

export interface MemoryImage {
  byteLength: number
  /** Non-zero pages in ascending order; every other page is zero. */
  pages: MemoryPage[]
}

const ZERO_PAGE = Buffer.alloc(PAGE_BYTES)

/**
 * `memory`'s non-zero pages: copied (one copy of them all, then views into it),
 * or with `copy: false` views on `memory` itself, valid while it does not change.
 */
export function captureMemory(memory: Uint8Array, options: { copy?: boolean } = {}): MemoryImage {
  if (memory.byteLength % PAGE_BYTES !== 0) throw new RangeError('a memory is a whole number of 64 KiB pages')
  const live = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength)
  const nonZero: number[] = []
  for (let index = 0; index < memory.byteLength / PAGE_BYTES; index++) {
    const at = index * PAGE_BYTES
    if (live.compare(ZERO_PAGE, 0, PAGE_BYTES, at, at + PAGE_BYTES) !== 0) nonZero.push(index)
  }
  const page = (index: number) => memory.subarray(index * PAGE_BYTES, (index + 1) * PAGE_BYTES)
  if (options.copy === false) {
    return { byteLength: memory.byteLength, pages: nonZero.map((index) => ({ index, bytes: page(index) })) }
  }
  const copy = new Uint8Array(nonZero.length * PAGE_BYTES)
  const pages = nonZero.map((index, i) => {
    copy.set(page(index), i * PAGE_BYTES)
    return { index, bytes: copy.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES) }
  })
  return { byteLength: memory.byteLength, pages }
}

/**
 * Writes `image` over `target` (same size). Pages missing from the image are
 * zeroed below `cleanBelow`; above it `target` is known to be zero already (a
 * freshly grown memory), and leaving it untouched saves faulting it in.
 */
export function writeMemory(target: Uint8Array, image: MemoryImage, cleanBelow = target.byteLength) {
  if (target.byteLength !== image.byteLength) throw new RangeError('memory image and target differ in size')
  let next = 0
  for (const page of image.pages) {
    if (next < cleanBelow) target.fill(0, next, Math.min(page.index * PAGE_BYTES, cleanBelow))
    target.set(page.bytes, page.index * PAGE_BYTES)
    next = (page.index + 1) * PAGE_BYTES
  }
  if (next < cleanBelow) target.fill(0, next, cleanBelow)
}
