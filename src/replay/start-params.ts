/**
 * The log's first input: the start parameters (JSON) a guest begins with. With
 * the second input (the seeded virtual disk) a replica needs nothing else.
 */
import { CorruptLogError } from '../errors/index.ts'
import type { Preopen } from './wasi/index.ts'

/** What the guest starts with; recorded as the log's 'start' input. */
export interface StartParams {
  args: string[]
  env: [string, string][]
  preopens: Preopen[]
}

export function encodeStart(start: StartParams): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(start))
}

export function decodeStart(bytes: Uint8Array): StartParams {
  let start: StartParams
  try {
    start = JSON.parse(new TextDecoder().decode(bytes)) as StartParams
  } catch (err) {
    throw new CorruptLogError(`the log's start parameters are not JSON: ${(err as Error).message}`, 0)
  }
  if (!Array.isArray(start.args) || !Array.isArray(start.env) || !Array.isArray(start.preopens)) {
    throw new CorruptLogError("the log's start parameters lack args, env or preopens", 0)
  }
  return start
}

/** Replay must never ask for a live input. */
export function noLiveInput(): never {
  throw new CorruptLogError('replay asked for a live input')
}
