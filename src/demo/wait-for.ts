/** Polls until a probe answers, an abort, or a deadline: the demo waits on state it reads, never on sleeps. */

import { DemoError } from './demo-error.ts'
import { sleep } from './local-mesh.ts'

export interface WaitOptions {
  signal?: AbortSignal | undefined
  timeoutMs: number
  /** Between probes (default 100 ms). */
  everyMs?: number
}

/**
 * Resolves with the first value `probe` returns that is not undefined. A probe that throws is asked
 * again (an agent may be restarting), and the last error is named if the deadline passes; a probe that
 * throws a DemoError has seen something final (a diverged shadow) and ends the wait at once.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  let last: unknown
  for (;;) {
    options.signal?.throwIfAborted()
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      options.signal?.throwIfAborted()
      if (err instanceof DemoError) throw err
      last = err
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : ''
      throw new DemoError(`${what} did not happen within ${options.timeoutMs / 1000} s${why}`)
    }
    await sleep(options.everyMs ?? 100, options.signal)
  }
}
