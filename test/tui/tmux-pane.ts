/**
 * A terminal for end-to-end tests: a private tmux server (its own socket name, no config file), so
 * nothing of the user's tmux is touched. Keys go in with send-keys, the screen comes back with
 * capture-pane.
 */
import { execFile, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'

const run = promisify(execFile)

export const hasTmux = spawnSync('tmux', ['-V']).status === 0

/** The session every pane runs in. */
export const SESSION = 'tui'

export type Tmux = (...args: string[]) => Promise<string>

/** Runs tmux commands against a server of its own, named after this process and `name`. */
export function privateTmux(name: string): Tmux {
  const server = `understudy-${name}-${process.pid}-${randomBytes(4).toString('hex')}`
  return async (...args: string[]) => (await run('tmux', ['-L', server, '-f', '/dev/null', ...args])).stdout
}

/** Quotes `s` for the shell tmux runs the pane's command with. */
export const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

/** Polls the pane until `ok` holds, failing with what it shows after `ms`. */
export async function waitForPane(
  tx: Tmux,
  what: string,
  ok: (screen: string) => boolean,
  ms = 30_000,
): Promise<string> {
  const deadline = Date.now() + ms
  for (;;) {
    const screen = (await tx('capture-pane', '-p', '-t', SESSION)).replace(/\n+$/, '')
    if (ok(screen)) return screen
    if (Date.now() > deadline) throw new Error(`the pane never showed ${what}; it shows:\n${screen}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
