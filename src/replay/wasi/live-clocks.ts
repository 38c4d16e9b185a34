/**
 * The host's real clocks, read only by the live side of a tape call. The
 * monotonic clock the guest sees continues from the last value it observed
 * (restored from a snapshot or replayed from a log), never going backwards
 * when the VM moves to another process or machine.
 */
import { ClockId } from './wasi-constants.ts'

export class LiveClocks {
  readonly #lastMonotonic: () => bigint | undefined
  #monotonicOffset: bigint | undefined

  /** `lastMonotonic` reports the last monotonic value the guest saw, if any. */
  constructor(lastMonotonic: () => bigint | undefined) {
    this.#lastMonotonic = lastMonotonic
  }

  /** Current value of a supported clock (REALTIME, MONOTONIC, *_CPUTIME_ID), in ns. */
  now(id: number): bigint {
    switch (id) {
      case ClockId.REALTIME:
        return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n
      case ClockId.MONOTONIC: {
        const raw = process.hrtime.bigint()
        // Fixed at the first live read of this host: 0 for a fresh VM, else continue where the guest was.
        this.#monotonicOffset ??= (this.#lastMonotonic() ?? raw) - raw
        return raw + this.#monotonicOffset
      }
      default: {
        const usage = process.cpuUsage()
        return BigInt(usage.user + usage.system) * 1000n
      }
    }
  }

  resolution(id: number): bigint {
    return id === ClockId.MONOTONIC ? 1n : 1000n
  }
}
