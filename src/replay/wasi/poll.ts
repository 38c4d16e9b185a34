/**
 * poll_oneoff: decoding subscriptions (deterministic, before the tape) and the
 * live computation of events (on the tape: its event bytes are recorded).
 * The live side never blocks the event loop: it waits on a timer and/or the
 * stdin source, then re-checks.
 */
import type { MaybePromise } from '../types.ts'
import type { GuestMemory } from './guest-memory.ts'
import {
  ClockId,
  Errno,
  EVENTRWFLAGS_HANGUP,
  EventType,
  Layout,
  SUBCLOCKFLAGS_ABSTIME,
} from './wasi-constants.ts'
import { WasiError } from './wasi-error.ts'

export type Subscription =
  | { type: 0; userdata: bigint; clockId: number; timeout: bigint; abstime: boolean }
  | { type: 1 | 2; userdata: bigint; fd: number }

/** Whether an fd subscription is ready now: an event's error and byte count, or undefined to wait for stdin. */
export type FdReadiness = { error: number; nbytes: bigint; hangup: boolean } | undefined

export interface PollContext {
  /** Live clock value (guest time) of REALTIME or MONOTONIC. */
  now(clockId: number): bigint
  fdReadiness(fd: number, type: 1 | 2): FdReadiness
  /** Resolves when stdin may have become readable. */
  whenStdinReadable(): Promise<void>
  signal: AbortSignal | undefined
}

export function decodeSubscriptions(mem: GuestMemory, ptr: number, count: number): Subscription[] {
  mem.check(ptr, count * Layout.SUBSCRIPTION)
  const subs: Subscription[] = []
  for (let i = 0; i < count; i++) {
    const at = ptr + i * Layout.SUBSCRIPTION
    const userdata = mem.u64(at)
    const tag = mem.u8(at + 8)
    if (tag === EventType.CLOCK) {
      subs.push({
        type: 0,
        userdata,
        clockId: mem.u32(at + 16),
        timeout: mem.u64(at + 24),
        abstime: (mem.u16(at + 40) & SUBCLOCKFLAGS_ABSTIME) !== 0,
      })
    } else if (tag === EventType.FD_READ || tag === EventType.FD_WRITE) {
      subs.push({ type: tag, userdata, fd: mem.u32(at + 16) })
    } else {
      throw new WasiError(Errno.INVAL)
    }
  }
  return subs
}

/** A 64-bit FNV-1a fingerprint of the decoded subscriptions, so replay checks the guest asked the same. */
export function fingerprint(subs: readonly Subscription[]): bigint {
  let h = 0xcbf29ce484222325n
  const mix = (v: bigint) => {
    h = BigInt.asUintN(64, (h ^ v) * 0x100000001b3n)
  }
  for (const s of subs) {
    mix(s.userdata)
    mix(BigInt(s.type))
    if (s.type === 0) {
      mix(BigInt(s.clockId))
      mix(s.timeout)
      mix(s.abstime ? 1n : 0n)
    } else {
      mix(BigInt(s.fd))
    }
  }
  return h
}

interface PollEvent {
  userdata: bigint
  error: number
  type: number
  nbytes: bigint
  flags: number
}

/** Waits (live) until at least one subscription is ready; returns the event bytes. */
export function pollLive(subs: readonly Subscription[], ctx: PollContext): MaybePromise<Uint8Array> {
  // Relative timeouts count from the call, on the monotonic clock.
  const start = subs.some((s) => s.type === 0 && !s.abstime) ? ctx.now(ClockId.MONOTONIC) : 0n
  const deadlines = subs.map((s) => {
    if (s.type !== 0 || !isPollClock(s.clockId)) return undefined
    return s.abstime
      ? { clock: s.clockId, at: s.timeout }
      : { clock: ClockId.MONOTONIC as number, at: start + s.timeout }
  })
  const attempt = (): MaybePromise<Uint8Array> => {
    const events: PollEvent[] = []
    let wait: bigint | undefined
    let waitStdin = false
    subs.forEach((s, i) => {
      if (s.type === 0) {
        const deadline = deadlines[i]
        if (deadline === undefined) {
          events.push({ userdata: s.userdata, error: Errno.INVAL, type: 0, nbytes: 0n, flags: 0 })
          return
        }
        const left = deadline.at - ctx.now(deadline.clock)
        if (left <= 0n) events.push({ userdata: s.userdata, error: 0, type: 0, nbytes: 0n, flags: 0 })
        else if (wait === undefined || left < wait) wait = left
        return
      }
      const ready = ctx.fdReadiness(s.fd, s.type)
      if (ready === undefined) waitStdin = true
      else
        events.push({
          userdata: s.userdata,
          error: ready.error,
          type: s.type,
          nbytes: ready.nbytes,
          flags: ready.hangup ? EVENTRWFLAGS_HANGUP : 0,
        })
    })
    if (events.length > 0) return encodeEvents(events)
    return waitFor(wait, waitStdin, ctx).then(attempt)
  }
  return attempt()
}

function isPollClock(id: number): boolean {
  return id === ClockId.REALTIME || id === ClockId.MONOTONIC
}

const MAX_TIMER_MS = 2 ** 31 - 1

function waitFor(ns: bigint | undefined, stdin: boolean, ctx: PollContext): Promise<void> {
  const { promise, resolve, reject } = Promise.withResolvers<void>()
  const signal = ctx.signal
  if (signal?.aborted) return Promise.reject(signal.reason)
  let timer: NodeJS.Timeout | undefined
  const onAbort = () => finish(() => reject(signal!.reason))
  const finish = (settle: () => void) => {
    if (timer !== undefined) clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
    settle()
  }
  // Longer waits than setTimeout allows end early and are simply re-checked.
  if (ns !== undefined)
    timer = setTimeout(() => finish(resolve), Math.min(Math.ceil(Number(ns) / 1e6), MAX_TIMER_MS))
  if (stdin) ctx.whenStdinReadable().then(() => finish(resolve), reject)
  signal?.addEventListener('abort', onAbort, { once: true })
  return promise
}

function encodeEvents(events: readonly PollEvent[]): Uint8Array {
  const out = new Uint8Array(events.length * Layout.EVENT)
  const view = new DataView(out.buffer)
  events.forEach((e, i) => {
    const at = i * Layout.EVENT
    view.setBigUint64(at, e.userdata, true)
    view.setUint16(at + 8, e.error, true)
    view.setUint8(at + 10, e.type)
    view.setBigUint64(at + 16, e.nbytes, true)
    view.setUint16(at + 24, e.flags, true)
  })
  return out
}
