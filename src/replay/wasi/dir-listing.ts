/**
 * The readdir order of one directory, with cookies that stay valid while
 * entries are removed: each entry keeps the position it was linked at (like
 * ext4's hash positions, unlike tmpfs's shifting indexes), so a guest that
 * deletes entries as it lists them (Rust's remove_dir_all) sees every entry.
 * Cookies 0 and 1 are '.' and '..'; entries start at 2.
 */

interface Slot {
  readonly name: string
  readonly cookie: number
  removed: boolean
}

export const FIRST_ENTRY_COOKIE = 2

export class DirListing {
  #slots: Slot[] = []
  readonly #byName = new Map<string, Slot>()
  #next = FIRST_ENTRY_COOKIE
  #removed = 0

  /** The cookie the next added entry gets. */
  get nextCookie(): number {
    return this.#next
  }

  add(name: string): void {
    const slot = { name, cookie: this.#next++, removed: false }
    this.#slots.push(slot)
    this.#byName.set(name, slot)
  }

  remove(name: string): void {
    const slot = this.#byName.get(name)
    if (slot === undefined) return
    slot.removed = true
    this.#byName.delete(name)
    // Compact once most slots are dead; cookies are kept, so positions do not move.
    if (++this.#removed > 32 && this.#removed * 2 > this.#slots.length) {
      this.#slots = this.#slots.filter((s) => !s.removed)
      this.#removed = 0
    }
  }

  /** Live entries whose cookie is at least `cookie`, in order, each with the cookie that follows it. */
  *from(cookie: number): Generator<[name: string, next: number]> {
    const slots = this.#slots
    let lo = 0
    let hi = slots.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (slots[mid]!.cookie < cookie) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < slots.length; i++) {
      const s = slots[i]!
      if (!s.removed) yield [s.name, s.cookie + 1]
    }
  }

  /** Live entries in order with their cookies (for serialization). */
  entries(): [name: string, cookie: number][] {
    return this.#slots.filter((s) => !s.removed).map((s) => [s.name, s.cookie])
  }

  /** Rebuilds a listing; cookies must increase and stay below `next`. */
  static restore(entries: readonly [string, number][], next: number): DirListing {
    const listing = new DirListing()
    let prev = FIRST_ENTRY_COOKIE - 1
    for (const [name, cookie] of entries) {
      if (cookie <= prev || cookie >= next)
        throw new RangeError(`cookie ${cookie} of ${name} is out of order`)
      prev = cookie
      const slot = { name, cookie, removed: false }
      listing.#slots.push(slot)
      listing.#byName.set(name, slot)
    }
    listing.#next = next
    return listing
  }
}
