/**
 * A guest running under node:wasi in a child process, spoken to over pipes one line
 * at a time: proves a guest answers each request before it blocks on the next one.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

export interface GuestSessionOptions {
  args?: string[]
  /** Preopened directories: guest path → host path. */
  dirs?: Record<string, string>
  /** How long to wait for one reply line (default 5 s). */
  replyTimeoutMs?: number
}

export class GuestSession {
  readonly #child: ChildProcessWithoutNullStreams
  readonly #lines: AsyncIterator<string>
  readonly #timeoutMs: number
  readonly #exited: Promise<unknown[]>
  #stderr = ''

  constructor(wasmPath: string, options: GuestSessionOptions = {}) {
    const runner = join(import.meta.dirname, 'reference-runtime.ts')
    const dirFlags = Object.entries(options.dirs ?? {}).flatMap(([guest, host]) => [
      '--dir',
      `${host}::${guest}`,
    ])
    this.#child = spawn(
      process.execPath,
      ['--no-warnings', runner, wasmPath, ...dirFlags, '--', ...(options.args ?? [])],
      { stdio: 'pipe' },
    )
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString()
    })
    this.#lines = createInterface({ input: this.#child.stdout })[Symbol.asyncIterator]()
    this.#timeoutMs = options.replyTimeoutMs ?? 5000
    this.#exited = once(this.#child, 'exit')
  }

  get stderr(): string {
    return this.#stderr
  }

  /** The next line the guest writes (rejects if none comes within the reply timeout). */
  async next(): Promise<string> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no reply within ${this.#timeoutMs} ms; stderr: ${this.#stderr}`)),
        this.#timeoutMs,
      )
    })
    const line = await Promise.race([this.#lines.next(), timeout]).finally(() => clearTimeout(timer))
    if (line.done) throw new Error(`the guest closed its stdout; stderr: ${this.#stderr}`)
    return line.value
  }

  /** Sends one line and waits for the one reply line. */
  async ask(line: string): Promise<string> {
    this.#child.stdin.write(`${line}\n`)
    return this.next()
  }

  /** Closes stdin and resolves with the exit code and whatever the guest still wrote. */
  async end(): Promise<{ exitCode: number | null; rest: string[] }> {
    this.#child.stdin.end()
    const rest: string[] = []
    for (let line = await this.#lines.next(); !line.done; line = await this.#lines.next())
      rest.push(line.value)
    const [exitCode] = await this.#exited
    return { exitCode: exitCode as number | null, rest }
  }

  kill(): void {
    this.#child.kill()
  }
}
