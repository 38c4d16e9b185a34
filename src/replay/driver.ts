/**
 * The interface every machine driver implements: the embedded WebAssembly
 * driver (src/replay/wasm) today, full-system drivers (QEMU record/replay,
 * KVM) later. Record or replay is the tape's mode: a driver runs the guest and
 * sends every nondeterministic input through the tape it was given.
 */
import type { CallArg, Outcome } from './types.ts'

/** Where a paused guest stopped: before a host call that has not run yet (an entry boundary). */
export interface PausePoint {
  /** The call, e.g. "wasi_snapshot_preview1.fd_read". */
  call: string
  args: readonly CallArg[]
}

export type DriverStatus = 'ready' | 'running' | 'paused' | 'ended' | 'failed'

export type DriverRunResult =
  | { kind: 'paused'; at: PausePoint }
  | { kind: 'ended'; outcome: Outcome; digest: Uint8Array }

export interface CheckpointSummary {
  path: string
  /** File size in bytes. */
  bytes: number
  /** The state digest at the checkpoint. */
  digest: Uint8Array
}

/** Blobs a checkpoint carries for the caller, from which it rebuilds the host and the tape. */
export interface SavedComponents {
  /** The host's snapshot (e.g. WASI state). */
  host: Uint8Array
  /** The caller's tape blob (log position, last hash). */
  tape: Uint8Array
}

export interface Driver {
  /** 'wasm', later 'qemu', 'kvm'. */
  readonly kind: string
  readonly status: DriverStatus
  /** The terminal outcome, once ended. */
  readonly outcome: Outcome | undefined

  /**
   * Runs (or resumes) the guest until it ends or pauses. When it ends, the
   * driver reports the outcome and final digest to the tape (`tape.exit`).
   * Aborting `signal` asks for a pause, as requestPause() does.
   */
  run(options?: { signal?: AbortSignal }): Promise<DriverRunResult>

  /** Pause before the guest's next host call, or now if it is blocked in one. */
  requestPause(): void

  /** While paused: write the machine's state and the caller's tape blob to `path`. */
  saveCheckpoint(path: string, tape: Uint8Array): Promise<CheckpointSummary>

  /** SHA-256 over the machine state (memory, registers or globals, host state). */
  stateDigest(): Uint8Array
}

export interface DriverFactory<Components> {
  readonly kind: string
  /** A fresh machine from an image (a .wasm module, a disk image, ...). */
  boot(image: Uint8Array, components: Components): Promise<Driver>
  /**
   * A machine from a checkpoint of the same image, paused where it was taken.
   * `components` gets the saved host and tape blobs and builds the live ones.
   */
  restore(
    image: Uint8Array,
    checkpointPath: string,
    components: (saved: SavedComponents) => Components | Promise<Components>,
  ): Promise<Driver>
}
