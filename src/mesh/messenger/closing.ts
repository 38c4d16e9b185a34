/** Ending streams without leaking them: flush what we sent, then make sure the stream really ends. */
import type { Stream } from '@libp2p/interface'
import { CLOSE_GRACE } from './constants.ts'

/**
 * Closes our end, letting queued bytes flush for up to `flushMs`, then gives the peer
 * CLOSE_GRACE to close its end before resetting: a peer that never closes cannot pin
 * the stream. Resolves once our bytes are flushed (or the stream was reset); never rejects.
 */
export async function endStream(stream: Stream, flushMs: number): Promise<void> {
  if (stream.status !== 'open') return
  try {
    await stream.close({ signal: AbortSignal.timeout(flushMs) })
  } catch (err) {
    stream.abort(toError(err))
    return
  }
  if (stream.status !== 'open') return
  const timer = setTimeout(
    () => stream.abort(new Error('the peer did not close its end of the stream')),
    CLOSE_GRACE,
  )
  timer.unref()
  stream.addEventListener('close', () => clearTimeout(timer), { once: true })
}

/** Flushes what we sent (an ERROR frame) for up to CLOSE_GRACE, then resets the stream with `err`. */
export async function refuseStream(stream: Stream, err: Error): Promise<void> {
  if (stream.status !== 'open') return
  try {
    await stream.close({ signal: AbortSignal.timeout(CLOSE_GRACE) })
  } catch {
    // Reset below either way.
  }
  stream.abort(err)
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
