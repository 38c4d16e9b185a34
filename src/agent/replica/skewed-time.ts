/**
 * A host clock that can be jumped on purpose, for the fault lab: with UNDERSTUDY_CLOCK_SKEW_FILE set,
 * the file holds a signed offset in milliseconds added to the wall clock the guest sees when it runs
 * live on this agent. Read at most once a second; a missing or unreadable file means no offset. The
 * guest never sees time go backwards anyway (the host continues from the last value it saw), which is
 * exactly what a clock jump tests.
 */
import { readFileSync } from 'node:fs'
import { systemTime, type TimeSource } from '../../replay/wasi/index.ts'

export const CLOCK_SKEW_ENV = 'UNDERSTUDY_CLOCK_SKEW_FILE'

export function timeSourceFromEnv(env: NodeJS.ProcessEnv = process.env): TimeSource {
  const file = env[CLOCK_SKEW_ENV]
  if (!file) return systemTime
  let offsetNs = 0n
  let readAt = 0
  const offset = (): bigint => {
    const now = Date.now()
    if (now - readAt >= 1000) {
      readAt = now
      try {
        const ms = Number.parseInt(readFileSync(file, 'utf8').trim(), 10)
        offsetNs = Number.isSafeInteger(ms) ? BigInt(ms) * 1_000_000n : 0n
      } catch {
        offsetNs = 0n
      }
    }
    return offsetNs
  }
  return { realtime: () => systemTime.realtime() + offset(), monotonic: () => systemTime.monotonic() }
}
