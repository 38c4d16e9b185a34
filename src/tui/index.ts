/**
 * `understudy tui`: an Ink terminal UI over the agent's control API (and nothing else): peers,
 * workloads and their replicas, the live event feed, a detail view per workload, failover drills,
 * stops and placement explanations. The data layer is TuiStore (store.ts) over a pure reducer
 * (state.ts); keys map to commands (keys.ts) that a pure navigation function interprets.
 */
import { render } from 'ink'
import { createElement as h } from 'react'
import { UsageError } from '../errors/index.ts'
import { type ControlAddress, ControlClient } from './api.ts'
import { App } from './components/app.ts'
import { TuiStore } from './store.ts'

export { App, type AppProps } from './components/app.ts'
export type { UiCommand } from './keys.ts'
export { keyCommand } from './keys.ts'
export { type Effect, initialUi, navigate, type Pane, type UiContext, type UiState } from './navigation.ts'
export {
  type ActionOutcome,
  type Connection,
  type FeedItem,
  initialState,
  type ObservedPrimary,
  reduce,
  type StreamStatus,
  type TuiAction,
  type TuiState,
} from './state.ts'
export { describeError, TuiStore, type TuiStoreInit } from './store.ts'

export interface RunTuiOptions {
  address: ControlAddress
  /** Default process.stdin; must be a terminal (the TUI reads single keys). */
  stdin?: NodeJS.ReadStream | undefined
  /** Default process.stdout. */
  stdout?: NodeJS.WriteStream | undefined
  /** Closes the TUI as 'q' does. */
  signal?: AbortSignal | undefined
  /** Poll interval (default 1 s). */
  pollMs?: number | undefined
}

/** Each call to the agent gives up after this long; the header then says it is unreachable. */
const CALL_TIMEOUT_MS = 5_000
const ALT_SCREEN_ON = '\u001B[?1049h\u001B[H'
const ALT_SCREEN_OFF = '\u001B[?1049l'

/** Runs the TUI until the user quits (q, Ctrl-C) or the signal aborts. */
export async function runTui(options: RunTuiOptions): Promise<void> {
  const stdin = options.stdin ?? process.stdin
  const stdout = options.stdout ?? process.stdout
  if (!stdin.isTTY) {
    throw new UsageError('understudy tui needs a terminal to read keys from; use `understudy ps` in scripts')
  }
  options.signal?.throwIfAborted()
  const client = new ControlClient(options.address, { timeoutMs: CALL_TIMEOUT_MS })
  const store = new TuiStore({ client, pollMs: options.pollMs })
  const where =
    'socketPath' in options.address
      ? options.address.socketPath
      : `${options.address.host}:${options.address.port}`
  // The alternate screen keeps the shell's scrollback as it was, as full-screen programs do.
  const alt = stdout.isTTY === true
  if (alt) stdout.write(ALT_SCREEN_ON)
  store.start(options.signal)
  const instance = render(h(App, { store, where }), {
    stdin,
    stdout,
    // Ctrl-C is a key like q (the app quits cleanly). Ink's incrementalRendering is left off: in
    // Ink 6.8 it drew frames one row low in a tmux pane; a frame is one row shorter than the terminal
    // instead, so Ink never clears the screen, and it writes only frames whose text changed.
    exitOnCtrlC: false,
  })
  const onAbort = () => instance.unmount()
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    await instance.waitUntilExit()
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    instance.cleanup()
    await store.close()
    if (alt) stdout.write(ALT_SCREEN_OFF)
  }
}
