/**
 * Record and replay whole guest runs: the WASI host, a tape (Recorder or
 * Replayer) and the WebAssembly machine wired together, with the log in a
 * file. This is what `understudy record` / `replay` / `checkpoint` / `restore`
 * run, and what a replica does with a log that arrives over the mesh.
 *
 * A log is self-contained: its first entries are Inputs carrying the start
 * parameters (args, env, preopens) and the seeded virtual disk, so a replay
 * needs only the module and the log.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { CheckpointError, ConfigError } from '../errors/index.ts'
import type { CheckpointSummary, DriverRunResult } from './driver.ts'
import type { ChainPosition } from './log/index.ts'
import { LogBuffer, LogFileWriter, Recorder, Replayer, readLogFile } from './log/index.ts'
import { decodeStart, encodeStart, noLiveInput, type StartParams } from './start-params.ts'
import type { LogEntry, Outcome, Tape } from './types.ts'
import { EntryKind } from './types.ts'
import type { InputSource, OutputSink } from './wasi/index.ts'
import { VirtualDisk, WasiHost } from './wasi/index.ts'
import { WasmMachine, type WasmMachineOptions } from './wasm/index.ts'

/**
 * The WASI imports that go through the tape: where a guest may block or be paused.
 * fd_write is one because a replay that follows a growing log (a shadow) waits there
 * for the Output entry when the log has not reached it yet.
 */
export const PAUSABLE_WASI_IMPORTS = [
  'clock_time_get',
  'clock_res_get',
  'random_get',
  'fd_read',
  'fd_write',
  'poll_oneoff',
]

/** A host directory given to the guest (copied into its virtual disk, never written back). */
export interface DirMapping {
  hostDir: string
  guestPath: string
}

export type { StartParams } from './start-params.ts'

export interface GuestIo {
  stdin?: InputSource
  stdout?: OutputSink
  stderr?: OutputSink
  /** Aborting pauses the guest at its next host call and ends the session. */
  signal?: AbortSignal
}

export interface MachineSettings {
  /** Cache of instrumented modules; null for none. Default: the project's .cache/wasm. */
  cacheDir?: string | null
}

/**
 * Take a checkpoint at the first entry boundary at or after `atSeq`, or as soon
 * as `when` resolves (at once if the guest is then blocked in a host call).
 */
export interface CheckpointRequest {
  atSeq?: number
  when?: Promise<unknown>
  path: string
  /** Stop there instead of running on (`understudy checkpoint`). */
  stop?: boolean
}

export interface SessionResult {
  /** Undefined when the session stopped at a checkpoint. */
  outcome: Outcome | undefined
  /** The final state digest (or the digest at the checkpoint when stopped there). */
  digest: Uint8Array
  /** Log entries written (record) or consumed (replay). */
  entries: number
  checkpoint?: CheckpointSummary & { seq: number }
  /** The guest's virtual disk as it was left (export it with `disk.exportTo(dir)`). */
  disk: VirtualDisk
}

export interface RecordOptions extends GuestIo, MachineSettings {
  imagePath: string
  logPath: string
  args?: string[]
  env?: [string, string][]
  dirs?: DirMapping[]
  checkpoint?: CheckpointRequest
}

export interface ReplayOptions extends GuestIo, MachineSettings {
  imagePath: string
  logPath: string
  /** Start from this checkpoint instead of the beginning. */
  from?: string
  checkpoint?: CheckpointRequest
}

/** Runs the guest live, recording every nondeterministic input into a new log file. */
export async function recordSession(options: RecordOptions): Promise<SessionResult> {
  const image = await readImage(options.imagePath)
  const writer = new LogFileWriter(options.logPath, {
    meta: { moduleHash: sha256Hex(image), image: options.imagePath },
  })
  try {
    const tape = new Recorder({ sink: writer })
    const start = startParams(options)
    await tape.input('start', () => encodeStart(start))
    const disk = await seedDisk(options.dirs ?? [])
    await tape.input('disk', () => disk.serialize())
    const host = new WasiHost({ ...start, disk, tape, ...io(options) })
    const machine = await WasmMachine.boot(image, { host, tape }, machineOptions(options))
    const result = await drive(
      machine,
      tape,
      options,
      () => encodeChain(tape.snapshot()),
      () => writer.sync(),
    )
    await writer.close()
    return { ...result, disk: host.disk }
  } catch (err) {
    // Keep what was recorded: close() ends the file properly, so it reads as a complete log of the
    // run up to the failure (a replay of it stops there with ERR_LOG_ENDED); abandon only if that fails.
    await writer.close().catch(() => writer.abandon())
    throw err
  }
}

/** Replays a recorded log (from its start or from a checkpoint) and checks every call, output and the end. */
export async function replaySession(options: ReplayOptions): Promise<SessionResult> {
  const image = await readImage(options.imagePath)
  const log = await readLogFile(options.logPath)
  const moduleHash = sha256Hex(image)
  if (log.meta.moduleHash !== undefined && log.meta.moduleHash !== moduleHash) {
    throw new ConfigError(
      `${options.logPath} was recorded with module ${log.meta.moduleHash.slice(0, 16)}…, ` +
        `but ${options.imagePath} is ${moduleHash.slice(0, 16)}…: replay it with the module it was recorded with`,
    )
  }
  if (options.from !== undefined) return replayFromCheckpoint(image, log.entries, options.from, options)

  const tape = new Replayer({ source: LogBuffer.of(log.entries) })
  const start = decodeStart(await tape.input('start', noLiveInput))
  const disk = VirtualDisk.deserialize(await tape.input('disk', noLiveInput))
  const host = new WasiHost({ ...start, disk, tape, ...io(options) })
  const machine = await WasmMachine.boot(image, { host, tape }, machineOptions(options))
  return { ...(await drive(machine, tape, options, () => encodeChain(tape.snapshot()))), disk: host.disk }
}

async function replayFromCheckpoint(
  image: Uint8Array,
  entries: readonly LogEntry[],
  checkpointPath: string,
  options: ReplayOptions,
): Promise<SessionResult> {
  let tape: Replayer | undefined
  let host: WasiHost | undefined
  const machine = await WasmMachine.restore(
    image,
    checkpointPath,
    (saved) => {
      const resume = decodeChain(saved.tape)
      if (resume.position > entries.length) {
        throw new CheckpointError(
          `the checkpoint is at entry ${resume.position}, past the end of the log (${entries.length} entries)`,
        )
      }
      tape = new Replayer({ source: LogBuffer.of(entries.slice(resume.position)), resume })
      host = WasiHost.fromSnapshot(saved.host, { tape, ...io(options) })
      return { host, tape }
    },
    machineOptions(options),
  )
  const replayer = tape!
  const result = await drive(machine, replayer, options, () => encodeChain(replayer.snapshot()))
  return { ...result, disk: host!.disk }
}

/**
 * Runs the machine to its end, pausing once for a checkpoint when asked. The
 * pause lands at the first host call after the tape reaches `atSeq`; a
 * Checkpoint entry marks the spot in a recorded log.
 */
async function drive(
  machine: WasmMachine,
  tape: Recorder | Replayer,
  options: GuestIo & { checkpoint?: CheckpointRequest },
  tapeBlob: () => Uint8Array,
  flush?: () => Promise<void>,
): Promise<Omit<SessionResult, 'disk'>> {
  const request = options.checkpoint
  let checkpoint: SessionResult['checkpoint']
  if (request?.atSeq !== undefined) {
    if (tape.position >= request.atSeq) machine.requestPause()
    else watchPosition(tape, request.atSeq, () => machine.requestPause())
  }
  request?.when?.then(() => machine.requestPause())
  const runOptions = options.signal === undefined ? {} : { signal: options.signal }
  let result: DriverRunResult = await machine.run(runOptions)
  if (result.kind === 'paused' && request !== undefined && !options.signal?.aborted) {
    const digest = machine.stateDigest()
    if (tape instanceof Recorder) tape.mark(EntryKind.Checkpoint, { stateDigest: digest })
    await flush?.()
    const seq = tape.position
    checkpoint = { ...(await machine.saveCheckpoint(request.path, tapeBlob())), seq }
    if (request.stop) return { outcome: undefined, digest, entries: tape.position, checkpoint }
    result = await machine.run(runOptions)
  }
  if (result.kind === 'paused') {
    throw new CheckpointError(
      `the guest was paused at ${result.at.call} (aborted: ${String(options.signal?.reason)})`,
    )
  }
  if (tape instanceof Replayer) tape.finish()
  return {
    outcome: result.outcome,
    digest: result.digest,
    entries: tape.position,
    ...(checkpoint ? { checkpoint } : {}),
  }
}

/** Calls `reached` once, the first time the tape's position is at least `seq` after a tape operation. */
function watchPosition(tape: Tape, seq: number, reached: () => void) {
  const original = tape.call.bind(tape)
  let fired = false
  const check = () => {
    if (!fired && tape.position >= seq) {
      fired = true
      reached()
    }
  }
  // Wrapping the instance's method keeps the sync path sync (Asyncify needs that).
  ;(tape as { call: Tape['call'] }).call = (fn, args, live) => {
    const result = original(fn, args, live)
    if (result instanceof Promise) {
      return result.then((r) => {
        check()
        return r
      })
    }
    check()
    return result
  }
}

function machineOptions(settings: MachineSettings): WasmMachineOptions {
  return {
    pausableImports: PAUSABLE_WASI_IMPORTS,
    ...(settings.cacheDir === undefined ? {} : { cacheDir: settings.cacheDir }),
  }
}

function io(options: GuestIo) {
  return {
    ...(options.stdin ? { stdin: options.stdin } : {}),
    ...(options.stdout ? { stdout: options.stdout } : {}),
    ...(options.stderr ? { stderr: options.stderr } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  }
}

function startParams(options: RecordOptions): StartParams {
  const dirs = options.dirs ?? []
  return {
    args: options.args ?? [],
    env: options.env ?? [],
    preopens: dirs.map((dir, i) => ({ guestPath: dir.guestPath, diskPath: `/${i}` })),
  }
}

async function seedDisk(dirs: DirMapping[]): Promise<VirtualDisk> {
  const disk = new VirtualDisk()
  for (const [i, dir] of dirs.entries()) await disk.seedDirectory(`/${i}`, dir.hostDir)
  return disk
}

async function readImage(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (err) {
    throw new ConfigError(`cannot read the module ${path}: ${(err as Error).message}`, { cause: err })
  }
}

function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value))
}

function encodeChain(position: ChainPosition): Uint8Array {
  return encodeJson({
    position: position.position,
    epoch: position.epoch ?? 0,
    lastHash: Buffer.from(position.lastHash).toString('hex'),
  })
}

function decodeChain(bytes: Uint8Array): ChainPosition {
  try {
    const raw = JSON.parse(new TextDecoder().decode(bytes)) as {
      position: number
      epoch: number
      lastHash: string
    }
    if (!Number.isSafeInteger(raw.position) || typeof raw.lastHash !== 'string')
      throw new Error('missing fields')
    return {
      position: raw.position,
      epoch: raw.epoch,
      lastHash: new Uint8Array(Buffer.from(raw.lastHash, 'hex')),
    }
  } catch (err) {
    throw new CheckpointError(`the checkpoint's log position does not decode: ${(err as Error).message}`)
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}
