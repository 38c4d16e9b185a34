/**
 * One direction of a proxied TCP connection, delayed. Each chunk read from the source is held for the
 * link's delay (± jitter) and then written on, never before a chunk read earlier: bytes keep their order.
 *
 * What "loss" means here: TCP cannot lose bytes, so a lost segment shows up to the application as a
 * stall — the segment and everything behind it waits for the retransmission. `lossRate` is the chance
 * that a chunk is "lost" and held `lossStallMs` longer (Linux's minimum RTO is 200 ms). `resetRate` is
 * the chance per chunk that the connection is reset instead (both ends get a TCP RST), which is what an
 * application sees when a path fails for good. Chunks are what one read returned (up to 64 KiB).
 */
import type { Socket } from 'node:net'
import type { Prng } from '../../../src/agent/group/prng.ts'

export interface LinkSettings {
  /** Added one-way delay, ms. */
  delayMs: number
  /** Each chunk's delay is drawn uniformly from delayMs ± jitterMs (order is kept regardless). */
  jitterMs: number
  /** Probability per chunk of a loss stall. */
  lossRate: number
  lossStallMs: number
  /** Probability per chunk that the connection is reset. */
  resetRate: number
}

export const NO_DELAY: LinkSettings = { delayMs: 0, jitterMs: 0, lossRate: 0, lossStallMs: 200, resetRate: 0 }

/** Holds at most this many bytes per direction before pausing the source (TCP backpressure then). */
const HIGH_WATER = 1 << 20

export function validLink(settings: Partial<LinkSettings>): Partial<LinkSettings> {
  for (const [key, value] of Object.entries(settings)) {
    if (!(key in NO_DELAY)) throw new RangeError(`unknown link setting ${key}`)
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`link setting ${key} must be a finite number ≥ 0, not ${String(value)}`)
    }
    if ((key === 'lossRate' || key === 'resetRate') && value > 1) {
      throw new RangeError(`link setting ${key} is a probability (0..1), not ${value}`)
    }
  }
  return settings
}

/** The fate of one chunk: how long it is held, or whether the connection is reset instead. */
export function chunkFate(settings: LinkSettings, rng: Prng): { holdMs: number; reset: boolean } {
  if (rng.chance(settings.resetRate)) return { holdMs: 0, reset: true }
  let hold = settings.delayMs
  if (settings.jitterMs > 0) hold += (rng.next() * 2 - 1) * settings.jitterMs
  if (rng.chance(settings.lossRate)) hold += settings.lossStallMs
  return { holdMs: Math.max(0, hold), reset: false }
}

export interface DelayPipeOptions {
  /** Read at every chunk, so changes apply to the next chunk. */
  settings: () => LinkSettings
  rng: Prng
  onReset: () => void
  onBytes?: (n: number) => void
  now?: () => number
}

/** Forwards `src` to `dst` through the delay line; ends `dst` after the last held chunk when `src` ends. */
export function delayPipe(src: Socket, dst: Socket, options: DelayPipeOptions): { stop: () => void } {
  const now = options.now ?? (() => performance.now())
  const queue: { chunk: Buffer; due: number }[] = []
  let queued = 0
  let lastDue = 0
  let timer: NodeJS.Timeout | undefined
  let srcEnded = false
  let dstEnded = false
  let waitingDrain = false
  let stopped = false

  const flush = (): void => {
    if (timer) clearTimeout(timer)
    timer = undefined
    if (stopped || waitingDrain || dst.destroyed) return
    const t = now()
    while (queue.length > 0 && queue[0]!.due <= t) {
      const { chunk } = queue.shift()!
      queued -= chunk.length
      options.onBytes?.(chunk.length)
      if (!dst.write(chunk)) {
        waitingDrain = true
        dst.once('drain', () => {
          waitingDrain = false
          flush()
        })
        break
      }
    }
    if (queued <= HIGH_WATER / 2 && src.isPaused() && !src.destroyed) src.resume()
    if (queue.length > 0) {
      if (!waitingDrain) timer = setTimeout(flush, Math.max(1, queue[0]!.due - t))
    } else if (srcEnded && !waitingDrain && !dstEnded) {
      dstEnded = true
      dst.end()
    }
  }

  src.on('data', (chunk: Buffer) => {
    const fate = chunkFate(options.settings(), options.rng)
    if (fate.reset) {
      options.onReset()
      return
    }
    const due = Math.max(now() + fate.holdMs, lastDue)
    lastDue = due
    queue.push({ chunk, due })
    queued += chunk.length
    if (queued > HIGH_WATER) src.pause()
    if (queue.length === 1) flush()
  })
  src.on('end', () => {
    srcEnded = true
    flush()
  })
  src.resume()
  return {
    stop: () => {
      stopped = true
      if (timer) clearTimeout(timer)
    },
  }
}

/**
 * Per-pair delays for a lab: each pair of sites gets one delay drawn from [minMs, maxMs] (the same both
 * ways, as a path usually is) with the given jitter.
 */
export function linkProfile(
  rng: Prng,
  sites: readonly string[],
  options: { minMs: number; maxMs: number; jitterMs?: number },
): { from: string; to: string; settings: Partial<LinkSettings> }[] {
  const out: { from: string; to: string; settings: Partial<LinkSettings> }[] = []
  for (let i = 0; i < sites.length; i++) {
    for (let j = i + 1; j < sites.length; j++) {
      const delayMs = options.minMs + rng.int(options.maxMs - options.minMs + 1)
      const settings = { delayMs, jitterMs: options.jitterMs ?? 0 }
      out.push({ from: sites[i]!, to: sites[j]!, settings }, { from: sites[j]!, to: sites[i]!, settings })
    }
  }
  return out
}
