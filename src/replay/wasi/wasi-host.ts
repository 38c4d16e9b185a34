/**
 * The WASI preview 1 host: the `wasi_snapshot_preview1` imports of one guest.
 *
 * Every nondeterministic result (clocks, random, stdin reads, poll events)
 * comes from `tape.call`, whose result bytes are exactly what the host then
 * writes into guest memory, so a replaying tape needs no live source. File
 * calls on the virtual disk are deterministic and bypass the tape. Output to
 * stdout/stderr goes to `tape.output` first, then to the sink.
 *
 * An import returns a Promise only when the tape does (the guest then blocks);
 * until that Promise settles it changes no host state, so a checkpoint taken
 * while the guest is blocked can simply issue the same call again on restore.
 */
import { createHash, randomFillSync } from 'node:crypto'
import { AbandonedCallError, CheckpointError, ConfigError } from '../../errors/index.ts'
import type { CallArg, MaybePromise, Tape } from '../types.ts'
import type { FdEntry } from './fd-table.ts'
import { FdTable } from './fd-table.ts'
import type { LinearMemory } from './guest-memory.ts'
import { GuestMemory, totalLength } from './guest-memory.ts'
import type { HostState, Preopen } from './host-snapshot.ts'
import { decodeHostState, encodeHostState } from './host-snapshot.ts'
import { LiveClocks, type TimeSource } from './live-clocks.ts'
import type { FdReadiness, PollContext } from './poll.ts'
import { decodeSubscriptions, fingerprint, pollLive } from './poll.ts'
import type { InputSource } from './stdin-reader.ts'
import { StdinReader } from './stdin-reader.ts'
import { decodeResult, failure, malformed, readU64, success, u64Success } from './tape-result.ts'
import { VirtualDisk } from './virtual-disk.ts'
import {
  ClockId,
  Errno,
  Fdflags,
  Layout,
  RIGHTS_DIRECTORY,
  RIGHTS_DIRECTORY_INHERITING,
  RIGHTS_STDIN,
  RIGHTS_STDOUT,
  Rights,
} from './wasi-constants.ts'
import { ProcExit, WasiError } from './wasi-error.ts'
import { WasiFs } from './wasi-fs.ts'

export type { Preopen } from './host-snapshot.ts'

/** Receives the guest's output on stdout or stderr (a copy the receiver may keep). */
export type OutputSink = (bytes: Uint8Array) => void

/** What a host talks to outside the VM's state: given anew when restoring a snapshot. */
export interface HostIo {
  tape: Tape
  stdin?: InputSource
  stdout?: OutputSink
  stderr?: OutputSink
  /** Aborts a blocking wait (poll_oneoff, stdin) with the signal's reason. */
  signal?: AbortSignal
  /** The live clocks' source (default: this process's clocks). */
  time?: TimeSource
}

export interface WasiHostOptions extends HostIo {
  args: string[]
  env: [string, string][]
  disk: VirtualDisk
  /** Given fds 3, 4, ... in this order. */
  preopens: Preopen[]
}

/** An import as WebAssembly calls it: i32 arguments as numbers, i64 as bigints; returns the errno. */
// biome-ignore lint/suspicious/noExplicitAny: the WebAssembly JS API passes untyped numbers and bigints.
export type WasiImport = (...args: any[]) => number | Promise<number>

/** The 46 functions of wasi_snapshot_preview1. */
export const WASI_FUNCTIONS = [
  'args_get',
  'args_sizes_get',
  'environ_get',
  'environ_sizes_get',
  'clock_res_get',
  'clock_time_get',
  'fd_advise',
  'fd_allocate',
  'fd_close',
  'fd_datasync',
  'fd_fdstat_get',
  'fd_fdstat_set_flags',
  'fd_fdstat_set_rights',
  'fd_filestat_get',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_pread',
  'fd_prestat_get',
  'fd_prestat_dir_name',
  'fd_pwrite',
  'fd_read',
  'fd_readdir',
  'fd_renumber',
  'fd_seek',
  'fd_sync',
  'fd_tell',
  'fd_write',
  'path_create_directory',
  'path_filestat_get',
  'path_filestat_set_times',
  'path_link',
  'path_open',
  'path_readlink',
  'path_remove_directory',
  'path_rename',
  'path_symlink',
  'path_unlink_file',
  'poll_oneoff',
  'proc_exit',
  'proc_raise',
  'sched_yield',
  'random_get',
  'sock_accept',
  'sock_recv',
  'sock_send',
  'sock_shutdown',
] as const
export type WasiFunction = (typeof WASI_FUNCTIONS)[number]

const encoder = new TextEncoder()

export class WasiHost {
  /** The `wasi_snapshot_preview1` import namespace. */
  readonly imports: Record<WasiFunction, WasiImport>

  readonly #args: string[]
  readonly #env: [string, string][]
  readonly #argBytes: Uint8Array[]
  readonly #envBytes: Uint8Array[]
  #preopens: Preopen[]
  readonly #disk: VirtualDisk
  readonly #fds: FdTable
  readonly #mem = new GuestMemory()
  readonly #fs: WasiFs
  readonly #tape: Tape
  readonly #stdin: StdinReader
  /** Bumped by abandon(): blocked calls started before it must not complete. */
  #generation = 0
  readonly #stdout: OutputSink | undefined
  readonly #stderr: OutputSink | undefined
  readonly #signal: AbortSignal | undefined
  readonly #clocks: LiveClocks
  readonly #poll: PollContext
  #lastRealtime: bigint | undefined
  #lastMonotonic: bigint | undefined

  constructor(options: WasiHostOptions) {
    this.#args = [...options.args]
    this.#env = options.env.map(([k, v]): [string, string] => [k, v])
    for (const a of this.#args) if (a.includes('\0')) throw new ConfigError('an argument contains a NUL byte')
    for (const [k, v] of this.#env) {
      if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) {
        throw new ConfigError(`bad environment variable ${JSON.stringify(k)}`)
      }
    }
    this.#argBytes = this.#args.map((a) => encoder.encode(`${a}\0`))
    this.#envBytes = this.#env.map(([k, v]) => encoder.encode(`${k}=${v}\0`))
    this.#disk = options.disk
    this.#fds = new FdTable(this.#disk)
    this.#fs = new WasiFs(this.#disk, this.#fds, this.#mem)
    this.#tape = options.tape
    this.#stdin = new StdinReader(options.stdin)
    this.#stdout = options.stdout
    this.#stderr = options.stderr
    this.#signal = options.signal
    this.#clocks = new LiveClocks(
      { lastMonotonic: () => this.#lastMonotonic, lastRealtime: () => this.#lastRealtime },
      options.time,
    )
    this.#poll = {
      now: (id) => this.#clocks.now(id),
      fdReadiness: (fd, type) => this.#fdReadiness(fd, type),
      whenStdinReadable: () => this.#stdin.whenReadable(),
      signal: this.#signal,
    }
    this.#preopens = options.preopens.map((p) => ({ ...p }))
    this.#fds.add(stdio('stdin', RIGHTS_STDIN))
    this.#fds.add(stdio('stdout', RIGHTS_STDOUT))
    this.#fds.add(stdio('stderr', RIGHTS_STDOUT))
    for (const p of this.#preopens) {
      const node = this.#disk.lookup(p.diskPath)
      if (node?.type !== 'directory') {
        throw new ConfigError(`preopen ${p.guestPath}: ${p.diskPath} is not a directory on the virtual disk`)
      }
      this.#fds.add({
        kind: 'directory',
        node,
        offset: 0,
        flags: 0,
        rightsBase: RIGHTS_DIRECTORY,
        rightsInheriting: RIGHTS_DIRECTORY_INHERITING,
        path: p.guestPath,
        preopen: true,
      })
    }
    this.imports = this.#buildImports()
  }

  /** A host that continues exactly where snapshot() was taken. Call setMemory before running. */
  static fromSnapshot(bytes: Uint8Array, io: HostIo): WasiHost {
    const state = decodeHostState(bytes)
    const disk = VirtualDisk.deserialize(state.disk)
    const host = new WasiHost({ ...io, args: state.args, env: state.env, disk, preopens: [] })
    host.#restore(state)
    return host
  }

  /** The guest's disk (live: it changes as the guest runs). */
  get disk(): VirtualDisk {
    return this.#disk
  }

  /** The guest's linear memory; call after instantiation and after every restore. */
  /**
   * The machine paused while the guest was blocked in `call`: the wait's result
   * must be neither recorded nor consumed (stdin stays buffered), because the
   * guest makes the same call again when it resumes.
   */
  abandon(_call: string): void {
    this.#generation++
    this.#tape.abandon?.()
  }

  /** Continues a blocked call with `then`, unless a pause abandoned it meanwhile. */
  #whenNotAbandoned<T, R>(call: string, wait: Promise<T>, then: (value: T) => MaybePromise<R>): Promise<R> {
    const generation = this.#generation
    return wait.then((value) => {
      if (generation !== this.#generation) throw new AbandonedCallError(call)
      return then(value)
    })
  }

  /** Stdin has data or ended: take it (a source that raced back to empty is waited for again). */
  #readStdinNow(capacity: number): MaybePromise<Uint8Array> {
    const got = this.#stdin.tryRead(capacity)
    if (got !== 'again') return success(got)
    return this.#whenNotAbandoned('fd_read', abortable(this.#stdin.whenReadable(), this.#signal), () =>
      this.#readStdinNow(capacity),
    )
  }

  setMemory(memory: LinearMemory): void {
    this.#mem.attach(memory)
  }

  /** All host-side state, deterministically encoded. */
  snapshot(): Uint8Array {
    const state: HostState = {
      args: this.#args,
      env: this.#env,
      preopens: this.#preopens,
      lastRealtime: this.#lastRealtime,
      lastMonotonic: this.#lastMonotonic,
      fds: this.#fds.sorted().map(([fd, e]) => ({
        fd,
        kind: e.kind,
        ino: e.node?.ino ?? 0,
        offset: e.offset,
        flags: e.flags,
        rightsBase: e.rightsBase,
        rightsInheriting: e.rightsInheriting,
        path: e.path,
        preopen: e.preopen,
      })),
      disk: this.#disk.serialize(),
    }
    return encodeHostState(state)
  }

  /** SHA-256 of snapshot(). */
  digest(): Uint8Array {
    return new Uint8Array(createHash('sha256').update(this.snapshot()).digest())
  }

  #restore(state: HostState): void {
    for (const [fd] of this.#fds.sorted()) this.#fds.close(fd)
    for (const f of state.fds) {
      const node = f.ino === 0 ? undefined : this.#disk.node(f.ino)
      const wantsNode = f.kind === 'file' || f.kind === 'directory'
      if (wantsNode !== (node !== undefined) || (node !== undefined && node.type !== (f.kind as string))) {
        throw new CheckpointError(
          `the host snapshot's fd ${f.fd} refers to inode ${f.ino}, which does not fit`,
        )
      }
      if (this.#fds.find(f.fd) !== undefined)
        throw new CheckpointError(`the host snapshot lists fd ${f.fd} twice`)
      this.#fds.put(f.fd, {
        kind: f.kind,
        node: node as FdEntry['node'],
        offset: f.offset,
        flags: f.flags,
        rightsBase: f.rightsBase,
        rightsInheriting: f.rightsInheriting,
        path: f.path,
        preopen: f.preopen,
      })
    }
    this.#preopens = state.preopens
    this.#lastRealtime = state.lastRealtime
    this.#lastMonotonic = state.lastMonotonic
  }

  #buildImports(): Record<WasiFunction, WasiImport> {
    const fs = this.#fs
    const table: Record<WasiFunction, WasiImport> = {
      args_get: (argv, buf) => this.#listGet(this.#argBytes, argv >>> 0, buf >>> 0),
      args_sizes_get: (count, size) => this.#listSizes(this.#argBytes, count >>> 0, size >>> 0),
      environ_get: (env, buf) => this.#listGet(this.#envBytes, env >>> 0, buf >>> 0),
      environ_sizes_get: (count, size) => this.#listSizes(this.#envBytes, count >>> 0, size >>> 0),
      clock_res_get: (id, ptr) => this.#clockResGet(id >>> 0, ptr >>> 0),
      clock_time_get: (id, precision, ptr) => this.#clockTimeGet(id >>> 0, precision, ptr >>> 0),
      fd_advise: (fd, offset, len, advice) => fs.fdAdvise(fd >>> 0, offset, len, advice >>> 0),
      fd_allocate: (fd, offset, len) => fs.fdAllocate(fd >>> 0, offset, len),
      fd_close: (fd) => fs.fdClose(fd >>> 0),
      fd_datasync: (fd) => fs.fdSync(fd >>> 0),
      fd_fdstat_get: (fd, ptr) => fs.fdFdstatGet(fd >>> 0, ptr >>> 0),
      fd_fdstat_set_flags: (fd, flags) => fs.fdFdstatSetFlags(fd >>> 0, flags >>> 0),
      fd_fdstat_set_rights: (fd, base, inheriting) => fs.fdFdstatSetRights(fd >>> 0, base, inheriting),
      fd_filestat_get: (fd, ptr) => fs.fdFilestatGet(fd >>> 0, ptr >>> 0),
      fd_filestat_set_size: (fd, size) => fs.fdFilestatSetSize(fd >>> 0, size),
      fd_filestat_set_times: (fd, atim, mtim, flags) =>
        fs.fdFilestatSetTimes(fd >>> 0, atim, mtim, flags >>> 0),
      fd_pread: (fd, iovs, n, offset, ret) => fs.fdPread(fd >>> 0, iovs >>> 0, n >>> 0, offset, ret >>> 0),
      fd_prestat_get: (fd, ptr) => fs.fdPrestatGet(fd >>> 0, ptr >>> 0),
      fd_prestat_dir_name: (fd, ptr, len) => fs.fdPrestatDirName(fd >>> 0, ptr >>> 0, len >>> 0),
      fd_pwrite: (fd, iovs, n, offset, ret) => fs.fdPwrite(fd >>> 0, iovs >>> 0, n >>> 0, offset, ret >>> 0),
      fd_read: (fd, iovs, n, ret) => this.#fdRead(fd >>> 0, iovs >>> 0, n >>> 0, ret >>> 0),
      fd_readdir: (fd, buf, len, cookie, ret) =>
        fs.fdReaddir(fd >>> 0, buf >>> 0, len >>> 0, cookie, ret >>> 0),
      fd_renumber: (from, to) => fs.fdRenumber(from >>> 0, to >>> 0),
      fd_seek: (fd, delta, whence, ret) => fs.fdSeek(fd >>> 0, delta, whence >>> 0, ret >>> 0),
      fd_sync: (fd) => fs.fdSync(fd >>> 0),
      fd_tell: (fd, ret) => fs.fdTell(fd >>> 0, ret >>> 0),
      fd_write: (fd, iovs, n, ret) => this.#fdWrite(fd >>> 0, iovs >>> 0, n >>> 0, ret >>> 0),
      path_create_directory: (fd, p, l) => fs.pathCreateDirectory(fd >>> 0, p >>> 0, l >>> 0),
      path_filestat_get: (fd, flags, p, l, ret) =>
        fs.pathFilestatGet(fd >>> 0, flags >>> 0, p >>> 0, l >>> 0, ret >>> 0),
      path_filestat_set_times: (fd, flags, p, l, atim, mtim, fst) =>
        fs.pathFilestatSetTimes(fd >>> 0, flags >>> 0, p >>> 0, l >>> 0, atim, mtim, fst >>> 0),
      path_link: (ofd, oflags, op, ol, nfd, np, nl) =>
        fs.pathLink(ofd >>> 0, oflags >>> 0, op >>> 0, ol >>> 0, nfd >>> 0, np >>> 0, nl >>> 0),
      path_open: (fd, dirflags, p, l, oflags, base, inheriting, fdflags, ret) =>
        fs.pathOpen(
          fd >>> 0,
          dirflags >>> 0,
          p >>> 0,
          l >>> 0,
          oflags >>> 0,
          base,
          inheriting,
          fdflags >>> 0,
          ret >>> 0,
        ),
      path_readlink: (fd, p, l, buf, len, ret) =>
        fs.pathReadlink(fd >>> 0, p >>> 0, l >>> 0, buf >>> 0, len >>> 0, ret >>> 0),
      path_remove_directory: (fd, p, l) => fs.pathRemoveDirectory(fd >>> 0, p >>> 0, l >>> 0),
      path_rename: (fd, op, ol, nfd, np, nl) =>
        fs.pathRename(fd >>> 0, op >>> 0, ol >>> 0, nfd >>> 0, np >>> 0, nl >>> 0),
      path_symlink: (op, ol, fd, np, nl) => fs.pathSymlink(op >>> 0, ol >>> 0, fd >>> 0, np >>> 0, nl >>> 0),
      path_unlink_file: (fd, p, l) => fs.pathUnlinkFile(fd >>> 0, p >>> 0, l >>> 0),
      poll_oneoff: (inPtr, outPtr, n, ret) => this.#pollOneoff(inPtr >>> 0, outPtr >>> 0, n >>> 0, ret >>> 0),
      proc_exit: (code) => {
        throw new ProcExit(code >>> 0)
      },
      proc_raise: () => Errno.NOSYS,
      sched_yield: () => Errno.SUCCESS,
      random_get: (buf, len) => this.#randomGet(buf >>> 0, len >>> 0),
      sock_accept: (fd) => this.#notASocket(fd >>> 0),
      sock_recv: (fd) => this.#notASocket(fd >>> 0),
      sock_send: (fd) => this.#notASocket(fd >>> 0),
      sock_shutdown: (fd) => this.#notASocket(fd >>> 0),
    }
    const mem = this.#mem
    for (const name of WASI_FUNCTIONS) {
      const impl = table[name]
      table[name] = (...args) => {
        mem.refresh()
        try {
          const result = impl(...args)
          return typeof result === 'number' ? result : result.then(undefined, errnoOf)
        } catch (err) {
          return errnoOf(err)
        }
      }
    }
    return table
  }

  #listSizes(list: readonly Uint8Array[], countPtr: number, sizePtr: number): number {
    this.#mem.check(countPtr, 4)
    this.#mem.check(sizePtr, 4)
    this.#mem.setU32(countPtr, list.length)
    this.#mem.setU32(sizePtr, totalBytes(list))
    return Errno.SUCCESS
  }

  #listGet(list: readonly Uint8Array[], ptrs: number, buf: number): number {
    const mem = this.#mem
    mem.check(ptrs, list.length * 4)
    mem.check(buf, totalBytes(list))
    let at = buf
    list.forEach((item, i) => {
      mem.setU32(ptrs + i * 4, at)
      mem.bytes.set(item, at)
      at += item.length
    })
    return Errno.SUCCESS
  }

  #clockResGet(id: number, ptr: number): MaybePromise<number> {
    if (id > ClockId.THREAD_CPUTIME_ID) throw new WasiError(Errno.INVAL)
    this.#mem.check(ptr, 8)
    const result = this.#tape.call('clock_res_get', [id], () => u64Success(this.#clocks.resolution(id)))
    return this.#apply('clock_res_get', result, (payload) => {
      this.#mem.setU64(ptr, readU64('clock_res_get', payload))
    })
  }

  #clockTimeGet(id: number, precision: bigint, ptr: number): MaybePromise<number> {
    if (id > ClockId.THREAD_CPUTIME_ID) throw new WasiError(Errno.INVAL)
    this.#mem.check(ptr, 8)
    const result = this.#tape.call('clock_time_get', [id, precision], () => u64Success(this.#clocks.now(id)))
    return this.#apply('clock_time_get', result, (payload) => {
      const value = readU64('clock_time_get', payload)
      this.#mem.setU64(ptr, value)
      if (id === ClockId.REALTIME) {
        this.#lastRealtime = value
        this.#disk.now = value
      } else if (id === ClockId.MONOTONIC) {
        this.#lastMonotonic = value
      }
    })
  }

  #randomGet(buf: number, len: number): MaybePromise<number> {
    this.#mem.check(buf, len)
    if (len === 0) return Errno.SUCCESS
    const result = this.#tape.call('random_get', [len], () => {
      const out = new Uint8Array(2 + len)
      randomFillSync(out, 2, len)
      return out
    })
    return this.#apply('random_get', result, (payload) => {
      if (payload.length !== len) throw malformed('random_get', `${payload.length} bytes for ${len}`)
      this.#mem.write(buf, payload)
    })
  }

  #fdRead(fd: number, iovsPtr: number, iovsLen: number, retptr: number): MaybePromise<number> {
    const entry = this.#fds.get(fd)
    if (entry.kind !== 'stdin') return this.#fs.fdRead(fd, iovsPtr, iovsLen, retptr)
    if ((entry.rightsBase & Rights.FD_READ) === 0) throw new WasiError(Errno.BADF)
    const mem = this.#mem
    const iovs = mem.iovecs(iovsPtr, iovsLen)
    mem.check(retptr, 4)
    const capacity = totalLength(iovs)
    if (capacity === 0) {
      mem.setU32(retptr, 0)
      return Errno.SUCCESS
    }
    const nonblock = (entry.flags & Fdflags.NONBLOCK) !== 0
    const result = this.#tape.call('fd_read', [fd, capacity], () => {
      const got = this.#stdin.tryRead(capacity)
      if (got !== 'again') return success(got)
      if (nonblock) return failure(Errno.AGAIN)
      return this.#whenNotAbandoned('fd_read', abortable(this.#stdin.whenReadable(), this.#signal), () =>
        this.#readStdinNow(capacity),
      )
    })
    return this.#apply('fd_read', result, (payload) => {
      if (payload.length > capacity) throw malformed('fd_read', `${payload.length} bytes for ${capacity}`)
      mem.setU32(retptr, mem.scatter(iovs, payload))
    })
  }

  #fdWrite(fd: number, iovsPtr: number, iovsLen: number, retptr: number): MaybePromise<number> {
    const entry = this.#fds.get(fd)
    if (entry.kind !== 'stdout' && entry.kind !== 'stderr')
      return this.#fs.fdWrite(fd, iovsPtr, iovsLen, retptr)
    if ((entry.rightsBase & Rights.FD_WRITE) === 0) throw new WasiError(Errno.BADF)
    const mem = this.#mem
    const iovs = mem.iovecs(iovsPtr, iovsLen)
    mem.check(retptr, 4)
    const bytes = mem.gather(iovs)
    if (bytes.length === 0) {
      mem.setU32(retptr, 0)
      return Errno.SUCCESS
    }
    const stream = entry.kind === 'stdout' ? 1 : 2
    const done = (): number => {
      ;(stream === 1 ? this.#stdout : this.#stderr)?.(bytes)
      mem.refresh()
      mem.setU32(retptr, bytes.length)
      return Errno.SUCCESS
    }
    const recorded = this.#tape.output(stream, bytes)
    return recorded instanceof Promise ? recorded.then(done) : done()
  }

  #pollOneoff(inPtr: number, outPtr: number, count: number, retptr: number): MaybePromise<number> {
    if (count === 0) throw new WasiError(Errno.INVAL)
    const mem = this.#mem
    mem.check(outPtr, count * Layout.EVENT)
    mem.check(retptr, 4)
    const subs = decodeSubscriptions(mem, inPtr, count)
    const args: CallArg[] = [count, fingerprint(subs)]
    const result = this.#tape.call('poll_oneoff', args, () => {
      const events = pollLive(subs, this.#poll)
      return events instanceof Promise
        ? this.#whenNotAbandoned('poll_oneoff', events, success)
        : success(events)
    })
    return this.#apply('poll_oneoff', result, (payload) => {
      const n = payload.length / Layout.EVENT
      if (!Number.isInteger(n) || n < 1 || n > count)
        throw malformed('poll_oneoff', `${payload.length} bytes`)
      mem.write(outPtr, payload)
      mem.setU32(retptr, n)
    })
  }

  #fdReadiness(fd: number, type: 1 | 2): FdReadiness {
    const entry = this.#fds.find(fd)
    const badf = { error: Errno.BADF, nbytes: 0n, hangup: false }
    if (entry === undefined) return badf
    if (type === 1) {
      if (entry.kind === 'stdin') {
        const r = this.#stdin.readiness()
        return r === undefined ? undefined : { error: 0, nbytes: BigInt(r.nbytes), hangup: r.eof }
      }
      if (entry.kind === 'file' && (entry.rightsBase & Rights.FD_READ) !== 0) {
        const size = entry.node?.type === 'file' ? entry.node.size : 0
        return { error: 0, nbytes: BigInt(Math.max(0, size - entry.offset)), hangup: false }
      }
      return badf
    }
    if (
      (entry.kind === 'file' || entry.kind === 'stdout' || entry.kind === 'stderr') &&
      (entry.rightsBase & Rights.FD_WRITE) !== 0
    ) {
      return { error: 0, nbytes: 0n, hangup: false }
    }
    return badf
  }

  /** No descriptor is a socket yet (sockets will come with their own fd kind and tape calls). */
  #notASocket(fd: number): number {
    this.#fds.get(fd)
    return Errno.NOTSOCK
  }

  /** Applies a tape result: writes its payload into guest memory if the call succeeded; returns the errno. */
  #apply(
    fn: string,
    result: MaybePromise<Uint8Array>,
    write: (payload: Uint8Array) => void,
  ): MaybePromise<number> {
    const finish = (bytes: Uint8Array): number => {
      this.#mem.refresh()
      const { errno, payload } = decodeResult(fn, bytes)
      if (errno === Errno.SUCCESS) write(payload)
      return errno
    }
    return result instanceof Promise ? result.then(finish) : finish(result)
  }
}

function stdio(kind: 'stdin' | 'stdout' | 'stderr', rights: number): FdEntry {
  return {
    kind,
    node: undefined,
    offset: 0,
    flags: 0,
    rightsBase: rights,
    rightsInheriting: 0,
    path: `<${kind}>`,
    preopen: false,
  }
}

function totalBytes(list: readonly Uint8Array[]): number {
  let n = 0
  for (const item of list) n += item.length
  return n
}

/** WasiError becomes the guest's errno; anything else (a divergence, proc_exit, a bug) goes on up. */
function errnoOf(err: unknown): number {
  if (err instanceof WasiError) return err.errno
  throw err
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}
