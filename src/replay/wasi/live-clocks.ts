/**
 * The host's real clocks, read only by the live side of a tape call. The
 * monotonic and realtime clocks the guest sees continue from the last values it
 * observed (restored from a snapshot or replayed from a log), never going
 * backwards when the VM moves to another process or machine, even one whose
 * wall clock is behind.
 */
import { ClockId } from './wasi-constants.ts'

/** Where live time comes from; injectable so a test can put a host's clocks anywhere. */
export interface TimeSource {
  /** Wall-clock time, ns since the Unix epoch. */
  realtime(): bigint
  /** A monotonic counter with an arbitrary origin, ns. */
  monotonic(): bigint
}

/** This process's clocks. */
export const systemTime: TimeSource = {
  realtime: () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n,
  monotonic: () => process.hrtime.bigint(),
}

/** The last clock values the guest saw, if any (the host updates them on every clock result, live or replayed). */
export interface SeenClocks {
  lastMonotonic(): bigint | undefined
  lastRealtime(): bigint | undefined
}

export class LiveClocks {
  readonly #seen: SeenClocks
  readonly #time: TimeSource
  #monotonicOffset: bigint | undefined
  #realtimeOffset: bigint | undefined

  constructor(seen: SeenClocks, time: TimeSource = systemTime) {
    this.#seen = seen
    this.#time = time
  }

  /** Current value of a supported clock (REALTIME, MONOTONIC, *_CPUTIME_ID), in ns. */
  now(id: number): bigint {
    switch (id) {
      case ClockId.REALTIME: {
        const raw = this.#time.realtime()
        const last = this.#seen.lastRealtime()
        // Fixed at the first live read: a host whose wall clock is behind the guest's last
        // reading continues from that reading at its own pace instead of freezing the guest's time.
        this.#realtimeOffset ??= last !== undefined && last > raw ? last - raw : 0n
        const value = raw + this.#realtimeOffset
        // A wall clock stepped back (NTP) must not take the guest's time back either.
        return last !== undefined && value < last ? last : value
      }
      case ClockId.MONOTONIC: {
        const raw = this.#time.monotonic()
        // Fixed at the first live read of this host: 0 for a fresh VM, else continue where the guest was.
        this.#monotonicOffset ??= (this.#seen.lastMonotonic() ?? raw) - raw
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
