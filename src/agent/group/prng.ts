/**
 * A small seeded PRNG (sfc32, seeded through splitmix32) so that a simulation run is fully determined
 * by one number. Not for cryptography.
 */
export interface Prng {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform integer in [0, n). */
  int(n: number): number
  /** True with probability p. */
  chance(p: number): boolean
  pick<T>(items: readonly T[]): T
  shuffle<T>(items: T[]): T[]
}

export function createPrng(seed: number): Prng {
  let s = seed >>> 0
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = splitmix()
  let b = splitmix()
  let c = splitmix()
  let d = splitmix()
  const u32 = () => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) >>> 0
    return t
  }
  for (let i = 0; i < 12; i++) u32()

  const next = () => u32() / 4294967296
  const int = (n: number) => Math.floor(next() * n)
  return {
    next,
    int,
    chance: (p) => p > 0 && next() < p,
    pick: (items) => {
      if (items.length === 0) throw new RangeError('pick from an empty list')
      return items[int(items.length)]!
    },
    shuffle: (items) => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = int(i + 1)
        const tmp = items[i]!
        items[i] = items[j]!
        items[j] = tmp
      }
      return items
    },
  }
}
