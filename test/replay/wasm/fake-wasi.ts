/**
 * A small WASI preview 1 host for the wasm runtime's tests (the real one is
 * src/replay/wasi): stdout/stderr collected, stdin lines fed by the test (a
 * read with no line waiting returns a Promise), a seeded PRNG and a fake clock.
 * Its state (output, lines read, PRNG, clock) round-trips through snapshot().
 */
import type { HostImports } from '../../../src/replay/wasm/index.ts'

export class ProcExit extends Error {
  readonly code: number

  constructor(code: number) {
    super(`proc_exit(${code})`)
    this.name = 'ProcExit'
    this.code = code
  }
}

interface State {
  stdout: string
  stderr: string
  linesRead: number
  eofRead: boolean
  prng: number
  clockNs: string
}

const ERRNO_SUCCESS = 0
const ERRNO_BADF = 8
const ERRNO_SPIPE = 70

export class FakeWasi implements HostImports {
  readonly imports: Record<string, (...args: never[]) => number | Promise<number> | undefined>
  readonly calls: string[] = []
  abandoned: string[] = []
  #memory: WebAssembly.Memory | undefined
  #state: State
  #queue: string[] = []
  #ended = false
  #waiting: (() => void) | undefined
  /** Called whenever the guest starts waiting for a line. */
  onWait: (() => void) | undefined

  constructor(state?: State) {
    this.#state = state ?? {
      stdout: '',
      stderr: '',
      linesRead: 0,
      eofRead: false,
      prng: 0x12345678,
      clockNs: '1000',
    }
    this.imports = {
      fd_write: (fd: number, iovs: number, count: number, written: number) =>
        this.#fdWrite(fd, iovs, count, written),
      fd_read: (fd: number, iovs: number, count: number, read: number) => this.#fdRead(fd, iovs, count, read),
      fd_seek: () => ERRNO_SPIPE,
      fd_close: () => ERRNO_SUCCESS,
      fd_fdstat_get: (fd: number, at: number) => this.#fdstat(fd, at),
      fd_prestat_get: () => ERRNO_BADF,
      fd_prestat_dir_name: () => ERRNO_BADF,
      random_get: (buf: number, len: number) => this.#random(buf, len),
      clock_time_get: (_id: number, _precision: bigint, at: number) => this.#clock(at),
      args_sizes_get: (argc: number, size: number) => this.#zeros(argc, size),
      args_get: () => ERRNO_SUCCESS,
      environ_sizes_get: (count: number, size: number) => this.#zeros(count, size),
      environ_get: () => ERRNO_SUCCESS,
      proc_exit: (code: number) => {
        throw new ProcExit(code)
      },
    }
  }

  static fromSnapshot(bytes: Uint8Array): FakeWasi {
    return new FakeWasi(JSON.parse(new TextDecoder().decode(bytes)) as State)
  }

  get stdout(): string {
    return this.#state.stdout
  }

  get linesRead(): number {
    return this.#state.linesRead
  }

  setMemory(memory: WebAssembly.Memory) {
    this.#memory = memory
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.#state))
  }

  abandon(call: string) {
    this.abandoned.push(call)
    this.#waiting = undefined
  }

  /** Stdin gets these lines (each ends in \n). */
  feed(...lines: string[]) {
    this.#queue.push(...lines)
    this.#wakeReader()
  }

  /** Stdin reaches end of file once the queued lines are read. */
  end() {
    this.#ended = true
    this.#wakeReader()
  }

  #wakeReader() {
    const wake = this.#waiting
    this.#waiting = undefined
    wake?.()
  }

  #view() {
    if (this.#memory === undefined) throw new Error('no memory')
    return new DataView(this.#memory.buffer)
  }

  #bytes() {
    if (this.#memory === undefined) throw new Error('no memory')
    return new Uint8Array(this.#memory.buffer)
  }

  #fdWrite(fd: number, iovs: number, count: number, written: number): number {
    this.calls.push('fd_write')
    const view = this.#view()
    let text = ''
    let total = 0
    for (let i = 0; i < count; i++) {
      const ptr = view.getUint32(iovs + 8 * i, true)
      const len = view.getUint32(iovs + 8 * i + 4, true)
      text += new TextDecoder().decode(this.#bytes().subarray(ptr, ptr + len))
      total += len
    }
    if (fd === 1) this.#state.stdout += text
    else if (fd === 2) this.#state.stderr += text
    else return ERRNO_BADF
    view.setUint32(written, total, true)
    return ERRNO_SUCCESS
  }

  #fdRead(fd: number, iovs: number, count: number, read: number): number | Promise<number> {
    this.calls.push('fd_read')
    if (fd !== 0) return ERRNO_BADF
    const deliver = (): number => {
      const line = this.#queue.shift()
      const bytes = new TextEncoder().encode(line ?? '')
      if (line === undefined) this.#state.eofRead = true
      else this.#state.linesRead++
      const view = this.#view()
      let done = 0
      for (let i = 0; i < count && done < bytes.length; i++) {
        const ptr = view.getUint32(iovs + 8 * i, true)
        const len = view.getUint32(iovs + 8 * i + 4, true)
        const n = Math.min(len, bytes.length - done)
        this.#bytes().set(bytes.subarray(done, done + n), ptr)
        done += n
      }
      if (done < bytes.length) this.#queue.unshift(new TextDecoder().decode(bytes.subarray(done)))
      view.setUint32(read, done, true)
      return ERRNO_SUCCESS
    }
    if (this.#queue.length > 0 || this.#ended) return deliver()
    return new Promise<number>((resolve) => {
      this.#waiting = () => resolve(deliver())
      this.onWait?.()
    })
  }

  #fdstat(fd: number, at: number): number {
    if (fd > 2) return ERRNO_BADF
    const view = this.#view()
    view.setUint8(at, 2) // character device
    view.setUint16(at + 2, 0, true)
    view.setBigUint64(at + 8, 0xffffffffn, true)
    view.setBigUint64(at + 16, 0xffffffffn, true)
    return ERRNO_SUCCESS
  }

  #random(buf: number, len: number): number {
    const bytes = this.#bytes()
    for (let i = 0; i < len; i++) {
      let x = this.#state.prng
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      this.#state.prng = x >>> 0
      bytes[buf + i] = x & 0xff
    }
    return ERRNO_SUCCESS
  }

  #clock(at: number): number {
    const now = BigInt(this.#state.clockNs) + 1_000_000n
    this.#state.clockNs = now.toString()
    this.#view().setBigUint64(at, now, true)
    return ERRNO_SUCCESS
  }

  #zeros(a: number, b: number): number {
    const view = this.#view()
    view.setUint32(a, 0, true)
    view.setUint32(b, 0, true)
    return ERRNO_SUCCESS
  }
}

/** The WASI functions FakeWasi provides. */
export const FAKE_WASI_FUNCTIONS = Object.keys(new FakeWasi().imports)
