/**
 * The asking end of one request: a fresh stream, one REQUEST frame, one answer (RESPONSE
 * or ERROR), then close. The caller's controller aborts it (timeout, caller's signal,
 * stop) with the typed error to reject with; the stream is then reset, which aborts the
 * remote handler's signal.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { Uint8ArrayList } from 'uint8arraylist'
import { UnderstudyError } from '../../errors/index.ts'
import { MalformedFrameError, StreamClosedError } from '../errors.ts'
import { FrameReader } from '../framing.ts'
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
  const reader = new FrameReader(maxFrameBytes)
  const result = Promise.withResolvers<Uint8Array>()
  let settled = false
  const finish = (err: Error | undefined, frame?: Uint8Array): void => {
    if (settled) return
    settled = true
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('close', onClose)
    stream.removeEventListener('remoteCloseWrite', onClose)
    signal.removeEventListener('abort', onAbort)
    if (err !== undefined) result.reject(err)
    else if (frame !== undefined) result.resolve(frame)
  }
  const onMessage = (evt: { data: Uint8Array | Uint8ArrayList }): void => {
    try {
      const first = reader.push(evt.data)[0]
      if (first !== undefined) finish(undefined, first)
    } catch (err) {
      finish(asTyped(err))
    }
  }
  const onClose = (): void =>
    finish(new StreamClosedError('the peer closed the request stream without an answer', { remote: true }))
  const onAbort = (): void => finish(signal.reason)

  if (signal.aborted) {
    onAbort()
    return result.promise
  }
  stream.addEventListener('message', onMessage)
  stream.addEventListener('close', onClose)
  stream.addEventListener('remoteCloseWrite', onClose)
  signal.addEventListener('abort', onAbort, { once: true })
  return result.promise
}

function asTyped(err: unknown): UnderstudyError {
  if (err instanceof UnderstudyError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new StreamClosedError(`the request stream failed: ${message}`, { cause: err })
}
