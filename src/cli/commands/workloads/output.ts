/** Writing to stdout as fast as its reader takes it, and stopping cleanly on Ctrl-C or a closed pipe. */
import { once } from 'node:events'

/** Writes bytes as they are (no decoding), waiting while the reader is behind. */
export async function writeBytes(stream: NodeJS.WritableStream, bytes: Uint8Array, signal?: AbortSignal) {
  if (bytes.length === 0) return
  if (!stream.write(bytes)) await once(stream as NodeJS.EventEmitter, 'drain', { signal })
}

export interface Interrupt {
  /** Aborted by SIGINT, SIGTERM, or stdout closing (`understudy logs -f kv | head`). */
  signal: AbortSignal
  dispose(): void
}

/** Turns Ctrl-C, SIGTERM and a broken stdout into an abort, so a follow ends with exit 0. */
export function interruptOnSignals(stdout: NodeJS.WriteStream = process.stdout): Interrupt {
  const ac = new AbortController()
  const onSignal = (signal: NodeJS.Signals) => ac.abort(new Error(`received ${signal}`))
  let broken = false
  const onError = (err: Error) => {
    broken = true
    ac.abort(err)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  stdout.on('error', onError)
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      // A broken stdout keeps its listener: later writes fail again, and must not crash the exit.
      if (!broken) stdout.off('error', onError)
    },
  }
}
