/**
 * The asking end of one request: a fresh stream, one REQUEST frame, one answer (RESPONSE
 * or ERROR), then close. The caller's controller aborts it (timeout, caller's signal,
 * stop) with the typed error to reject with; the stream is then reset, which aborts the
 * remote handler's signal.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { UnderstudyError } from '../../errors/index.ts'
import { MalformedFrameError, StreamClosedError } from '../errors.ts'
import { readFirstFrame } from '../framing.ts'
import { raceAbort } from '../race-abort.ts'
import { endStream } from './closing.ts'
import { decodeFrame } from './codec.ts'
import { CLOSE_GRACE } from './constants.ts'
import { messengerErrorFromWire, PeerUnreachableError, RemoteError } from './errors.ts'

export interface RequestCall {
  connectionManager: ConnectionManager
  protocol: string
  peer: PeerId
  topic: string
  /** The encoded REQUEST frame. */
  frame: Uint8Array
  maxFrameBytes: number
  /** Aborted with the typed error to reject with. */
  signal: AbortSignal
}

export async function performRequest(call: RequestCall): Promise<Uint8Array> {
  const { signal } = call
  let stream: Stream | undefined
  try {
    try {
      stream = await call.connectionManager.openStream(call.peer, call.protocol, { signal })
    } catch (err) {
      if (signal.aborted) throw signal.reason
      throw new PeerUnreachableError(
        `cannot open a request stream to ${call.peer}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      )
    }
    const reply = readReply(stream, call.maxFrameBytes, signal)
    reply.catch(() => {}) // observed below; it may settle while we are still sending
    if (!stream.send(call.frame)) await raceAbort(stream.onDrain({ signal }), signal)
    const frame = decodeFrame(await reply)
    switch (frame.type) {
      case 'response':
        return frame.payload
      case 'error':
        if (frame.source === 'handler') {
          throw new RemoteError(frame.code, frame.message, `${call.peer} failed request ${call.topic}`)
        }
        throw messengerErrorFromWire(frame.code, frame.message)
      default:
        throw new MalformedFrameError(`a ${frame.type.toUpperCase()} frame answered a request`)
    }
  } catch (err) {
    const typed = signal.aborted ? signal.reason : asTyped(err)
    stream?.abort(typed)
    throw typed
  } finally {
    if (stream !== undefined) void endStream(stream, CLOSE_GRACE)
  }
}

/** Resolves with the first frame body the responder sends. */
function readReply(stream: Stream, maxFrameBytes: number, signal: AbortSignal): Promise<Uint8Array> {
  return readFirstFrame(stream, {
    maxFrameBytes,
    signal,
    failed: asTyped,
    closed: () =>
      new StreamClosedError('the peer closed the request stream without an answer', { remote: true }),
    aborted: (reason) => reason as Error,
  })
}

function asTyped(err: unknown): UnderstudyError {
  if (err instanceof UnderstudyError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new StreamClosedError(`the request stream failed: ${message}`, { cause: err })
}
