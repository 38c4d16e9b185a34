/**
 * The imports called directly, as a guest would call them: errnos for bad and
 * unsupported calls, the exact struct layouts, rights, sandboxing, the tape
 * discipline, and the asynchronous paths (stdin, poll_oneoff).
 */
import test from 'ava'
import { LiveTape } from '../../../src/replay/live-tape.ts'
import { Errno, ProcExit, VirtualDisk, WASI_FUNCTIONS, WasiHost } from '../../../src/replay/wasi/index.ts'
import { Filetype, Rights } from '../../../src/replay/wasi/wasi-constants.ts'
import { RecordingTape, ScriptedTape } from './guest-runner.ts'
import { BUF, IOVS, open, PATH, PREOPEN, RET, setupHost } from './host-setup.ts'

const text = (s: string) => new TextEncoder().encode(s)
/** What wasi-libc asks for when it opens a directory: everything but writing. */
const DIR_RIGHTS = 0x3fffffffn & ~BigInt(Rights.FD_WRITE)

test('the import namespace holds exactly the 46 preview 1 functions', (t) => {
  const { w } = setupHost()
  t.is(WASI_FUNCTIONS.length, 46)
  t.deepEqual(Object.keys(w).sort(), [...WASI_FUNCTIONS].sort())
})

test('calls on descriptors that are not open give EBADF', (t) => {
  const s = setupHost()
  const { w } = s
  t.is(w.fd_write!(99, ...s.iov(1), RET), Errno.BADF)
  t.is(w.fd_read!(99, ...s.iov(1), RET), Errno.BADF)
  t.is(w.fd_close!(99), Errno.BADF)
  t.is(w.fd_seek!(99, 0n, 0, RET), Errno.BADF)
  t.is(w.fd_fdstat_get!(99, RET), Errno.BADF)
  t.is(w.fd_renumber!(PREOPEN, 99), Errno.BADF)
  t.is(w.path_open!(99, 0, ...s.path('file.txt'), 0, 0n, 0n, 0, RET), Errno.BADF)
  t.is(w.fd_prestat_get!(0, RET), Errno.BADF, 'stdin is not a preopen')
  t.is(w.fd_write!(-1, ...s.iov(1), RET), Errno.BADF, 'a negative fd is just a large one')
})

test('out-of-bounds pointers give EFAULT before anything happens', (t) => {
  const tape = new RecordingTape()
  const s = setupHost({ tape })
  const { w } = s
  const end = 65536
  t.is(w.fd_write!(1, end, 1, RET), Errno.FAULT)
  s.view().setUint32(IOVS, end - 2, true)
  s.view().setUint32(IOVS + 4, 10, true)
  t.is(w.fd_write!(1, IOVS, 1, RET), Errno.FAULT, 'an iovec reaching past the end')
  t.is(w.fd_write!(1, ...s.iov(3, text('abc')), end - 2), Errno.FAULT, 'a result pointer past the end')
  t.is(w.clock_time_get!(0, 0n, end - 4), Errno.FAULT)
  t.is(w.random_get!(end - 10, 100), Errno.FAULT)
  t.is(w.args_get!(end, BUF), Errno.FAULT)
  t.is(w.path_open!(PREOPEN, 0, end - 3, 10, 0, 0n, 0n, 0, RET), Errno.FAULT)
  t.is(w.fd_read!(0, ...s.iov(4), 0x7fffffff), Errno.FAULT)
  t.is(w.poll_oneoff!(end - 8, BUF, 1, RET), Errno.FAULT)
  t.is(w.fd_write!(1, end - 8 * 100, 1000, RET), Errno.FAULT, 'an iovec array past the end')
  t.is(w.fd_write!(1, IOVS, 0xffffffff | 0, RET), Errno.INVAL, 'more iovecs than IOV_MAX')
  t.is(s.out.text(), '', 'nothing reached stdout')
  t.is(tape.calls.length, 0, 'no tape entry was spent on a faulting call')
})

test('unsupported calls return ENOSYS or ENOTSOCK, and proc_exit throws ProcExit with the code', (t) => {
  const { w } = setupHost()
  t.is(w.proc_raise!(9), Errno.NOSYS)
  t.is(w.sched_yield!(), Errno.SUCCESS)
  t.is(w.sock_accept!(1, 0, RET), Errno.NOTSOCK)
  t.is(w.sock_recv!(PREOPEN, IOVS, 1, 0, RET, RET + 4), Errno.NOTSOCK)
  t.is(w.sock_send!(1, IOVS, 1, 0, RET), Errno.NOTSOCK)
  t.is(w.sock_shutdown!(1, 3), Errno.NOTSOCK)
  t.is(w.sock_shutdown!(77, 3), Errno.BADF)
  t.is(w.clock_time_get!(9, 0n, RET), Errno.INVAL, 'an unknown clock')
  t.is(w.poll_oneoff!(BUF, BUF + 1024, 0, RET), Errno.INVAL, 'no subscriptions')
  t.is(w.fd_seek!(1, 0n, 0, RET), Errno.SPIPE)
  t.is(w.fd_pwrite!(1, IOVS, 0, 0n, RET), Errno.SPIPE)
  const exit = t.throws(() => w.proc_exit!(42), { instanceOf: ProcExit })
  t.is(exit?.exitCode, 42)
})

test('paths cannot leave their preopened directory, by .., absolute paths or symlinks', (t) => {
  const s = setupHost()
  s.disk.addSymlink(s.disk.root, 'abs', '/etc/passwd')
  s.disk.addSymlink(s.disk.root, 'up', '../x')
  s.disk.addSymlink(s.disk.root, 'loop1', 'loop2')
  s.disk.addSymlink(s.disk.root, 'loop2', 'loop1')
  t.is(open(s, '/file.txt').errno, Errno.NOTCAPABLE)
  t.is(open(s, '../file.txt').errno, Errno.NOTCAPABLE)
  t.is(open(s, 'sub/../../file.txt').errno, Errno.NOTCAPABLE)
  t.is(open(s, 'abs').errno, Errno.NOTCAPABLE)
  t.is(open(s, 'up').errno, Errno.NOTCAPABLE)
  t.is(open(s, 'loop1').errno, Errno.LOOP)
  t.is(open(s, 'abs', { follow: 0 }).errno, Errno.LOOP, 'O_NOFOLLOW on a symlink')
  t.is(open(s, 'sub/../file.txt').errno, Errno.SUCCESS)
  const sub = open(s, 'sub', { oflags: 2, rights: DIR_RIGHTS }).fd
  t.is(
    s.w.path_open!(sub, 0, ...s.path('../file.txt'), 0, 2n, 0n, 0, RET),
    Errno.NOTCAPABLE,
    'nor above a subdirectory fd',
  )
  t.is(s.w.path_open!(PREOPEN, 0, ...s.path(new Uint8Array([0x66, 0xff])), 0, 2n, 0n, 0, RET), Errno.ILSEQ)
  t.is(s.w.path_open!(PREOPEN, 0, ...s.path('file.txt\0x'), 0, 2n, 0n, 0, RET), Errno.INVAL)
  t.is(open(s, 'x'.repeat(256), { oflags: 1 }).errno, Errno.NAMETOOLONG)
})

test('fdstat reports the rights a descriptor was opened with, and dropped rights are enforced', (t) => {
  const s = setupHost()
  const { w } = s
  t.is(w.fd_fdstat_get!(PREOPEN, RET), 0)
  t.is(s.bytes(RET, 1)[0], Filetype.DIRECTORY)
  t.true(
    (s.u64(RET + 16) & BigInt(Rights.FD_READ | Rights.FD_WRITE)) !== 0n,
    'a preopen lets files inherit read and write',
  )
  t.is(w.fd_fdstat_get!(1, RET), 0)
  t.is(s.bytes(RET, 1)[0], Filetype.CHARACTER_DEVICE)
  t.is(s.u64(RET + 8) & BigInt(Rights.FD_SEEK | Rights.FD_TELL), 0n, 'stdout cannot seek, so libc sees a tty')

  const readOnly = open(s, 'file.txt', { rights: BigInt(Rights.FD_READ | Rights.FD_SEEK) })
  t.is(readOnly.errno, 0)
  t.is(w.fd_fdstat_get!(readOnly.fd, RET), 0)
  t.is(s.bytes(RET, 1)[0], Filetype.REGULAR_FILE)
  t.is(s.u64(RET + 8), BigInt(Rights.FD_READ | Rights.FD_SEEK))
  t.is(w.fd_write!(readOnly.fd, ...s.iov(1, text('x')), RET), Errno.BADF)
  t.is(w.fd_fdstat_set_rights!(readOnly.fd, BigInt(Rights.FD_READ | Rights.FD_WRITE), 0n), Errno.NOTCAPABLE)
  t.is(w.fd_read!(readOnly.fd, ...s.iov(2), RET), 0)
  t.is(w.fd_fdstat_set_rights!(readOnly.fd, BigInt(Rights.FD_SEEK), 0n), 0)
  t.is(w.fd_read!(readOnly.fd, ...s.iov(2), RET), Errno.BADF)
  t.is(open(s, 'sub', { rights: BigInt(Rights.FD_WRITE) }).errno, Errno.ISDIR)
})

test('readdir writes the exact dirent layout, resumes from a cookie and cuts the last entry short', (t) => {
  const s = setupHost()
  const dir = s.disk.makeDirectory('/list')
  s.disk.addFile(dir, 'a')
  s.disk.addDirectory(dir, 'bb')
  const fd = open(s, 'list', { oflags: 2, rights: DIR_RIGHTS }).fd
  t.is(s.w.fd_readdir!(fd, BUF, 1000, 0n, RET), 0)
  const used = s.u32(RET)
  const entries: { next: bigint; ino: bigint; type: number; name: string }[] = []
  for (let at = BUF; at < BUF + used; ) {
    const namlen = s.u32(at + 16)
    entries.push({
      next: s.u64(at),
      ino: s.u64(at + 8),
      type: s.bytes(at + 20, 1)[0]!,
      name: new TextDecoder().decode(s.bytes(at + 24, namlen)),
    })
    at += 24 + namlen
  }
  t.deepEqual(
    entries.map((e) => [e.name, e.next, e.type]),
    [
      ['.', 1n, Filetype.DIRECTORY],
      ['..', 2n, Filetype.DIRECTORY],
      ['a', 3n, Filetype.REGULAR_FILE],
      ['bb', 4n, Filetype.DIRECTORY],
    ],
  )
  t.is(entries[0]!.ino, BigInt(dir.ino))
  t.is(entries[1]!.ino, BigInt(s.disk.root.ino))
  t.is(used, 4 * 24 + 1 + 2 + 1 + 2)

  t.is(s.w.fd_readdir!(fd, BUF, 1000, 3n, RET), 0)
  t.is(s.u32(RET), 24 + 2, 'from cookie 3 only bb is left')
  t.is(s.w.fd_readdir!(fd, BUF, 30, 0n, RET), 0)
  t.is(s.u32(RET), 30, 'a full buffer means: read again')
  t.is(s.w.fd_readdir!(fd, BUF, 1000, 99n, RET), 0)
  t.is(s.u32(RET), 0)
  t.is(s.w.fd_readdir!(open(s, 'file.txt').fd, BUF, 1000, 0n, RET), Errno.NOTDIR)
})

test('readdir cookies stay valid while the guest removes the entries it has listed', (t) => {
  const s = setupHost()
  const dir = s.disk.makeDirectory('/many')
  for (let i = 0; i < 100; i++) s.disk.addFile(dir, `f${String(i).padStart(3, '0')}`)
  const fd = open(s, 'many', { oflags: 2, rights: DIR_RIGHTS }).fd
  const seen: string[] = []
  let cookie = 2n
  for (;;) {
    // One entry per call, removing it at once (as Rust's remove_dir_all does).
    t.is(s.w.fd_readdir!(fd, BUF, 28, cookie, RET), 0)
    if (s.u32(RET) === 0) break
    cookie = s.u64(BUF)
    const name = new TextDecoder().decode(s.bytes(BUF + 24, 4))
    seen.push(name)
    t.is(s.w.path_unlink_file!(PREOPEN, ...s.path(`many/${name}`)), 0)
  }
  t.is(seen.length, 100)
  t.is(dir.entries.size, 0)
})

test('only clocks, random and stdin go through the tape; file calls and output do not', (t) => {
  const tape = new RecordingTape()
  const s = setupHost({ tape, stdin: { read: () => text('typed') } })
  const { w } = s
  const f = open(s, 'new.txt', { oflags: 1 })
  t.is(w.fd_write!(f.fd, ...s.iov(3, text('abc')), RET), 0)
  t.is(w.fd_seek!(f.fd, 0n, 0, RET), 0)
  t.is(w.fd_read!(f.fd, ...s.iov(3), RET), 0)
  t.is(w.path_filestat_get!(PREOPEN, 1, ...s.path('new.txt'), BUF), 0)
  t.is(tape.calls.length, 0)
  t.is(w.clock_time_get!(1, 1000n, RET), 0)
  t.is(w.clock_res_get!(0, RET), 0)
  t.is(w.random_get!(BUF, 16), 0)
  t.is(w.fd_read!(0, ...s.iov(64), RET), 0)
  t.is(s.u32(RET), 5)
  t.deepEqual(
    tape.calls.map((c) => [c.fn, c.args]),
    [
      ['clock_time_get', [1, 1000n]],
      ['clock_res_get', [0]],
      ['random_get', [16]],
      ['fd_read', [0, 64]],
    ],
  )
  t.deepEqual(tape.calls[3]!.result, new Uint8Array([0, 0, ...text('typed')]))
  t.deepEqual(s.bytes(BUF, 5), text('typed'))
  t.is(w.fd_write!(1, ...s.iov(2, text('hi')), RET), 0)
  t.deepEqual(tape.outputs, [{ stream: 1, bytes: text('hi') }])
  t.is(s.out.text(), 'hi')
})

test('file timestamps come from the last realtime clock value the guest saw, 0 before any', (t) => {
  const s = setupHost({ tape: new ScriptedTape() })
  const { w } = s
  t.is(open(s, 'early.txt', { oflags: 1 }).errno, 0)
  t.is(w.path_filestat_get!(PREOPEN, 0, ...s.path('early.txt'), BUF), 0)
  t.is(s.u64(BUF + 48), 0n)
  t.is(w.clock_time_get!(0, 0n, RET), 0)
  const seen = s.u64(RET)
  t.true(seen > 0n)
  t.is(w.clock_time_get!(1, 0n, RET), 0, 'a monotonic read does not move file time')
  const late = open(s, 'late.txt', { oflags: 1 })
  t.is(w.fd_filestat_get!(late.fd, BUF), 0)
  t.is(s.u64(BUF + 40), seen, 'atim')
  t.is(s.u64(BUF + 48), seen, 'mtim')
  t.is(s.u64(BUF + 56), seen, 'ctim')
  t.is(w.fd_filestat_set_times!(late.fd, 5n, 0n, 1 | 8), 0)
  t.is(w.fd_filestat_get!(late.fd, BUF), 0)
  t.is(s.u64(BUF + 40), 5n)
  t.is(s.u64(BUF + 48), seen, 'MTIM_NOW is the last observed time')
  t.is(w.fd_filestat_set_times!(late.fd, 5n, 0n, 1 | 2), Errno.INVAL, 'ATIM with ATIM_NOW')
})

test('after a restore, the monotonic clock continues from the last value the guest saw', (t) => {
  const s = setupHost({ tape: new ScriptedTape() })
  t.is(s.w.clock_time_get!(1, 0n, RET), 0)
  const before = s.u64(RET)
  t.true(before > 10n ** 18n, 'the scripted clock is far ahead of this machine')
  const restored = WasiHost.fromSnapshot(s.host.snapshot(), { tape: new LiveTape() })
  const memory = new WebAssembly.Memory({ initial: 1 })
  restored.setMemory(memory)
  t.is(restored.imports.clock_time_get!(1, 0n, RET), 0)
  const after = new DataView(memory.buffer).getBigUint64(RET, true)
  t.true(after >= before)
  t.true(after - before < 10n ** 9n, 'no jump: time resumes where it was')
})

test.serial(
  'fd_read on stdin returns a Promise while the source has nothing, then places the bytes',
  async (t) => {
    const s = setupHost({
      stdin: {
        read: () => new Promise<Uint8Array>((resolve) => setTimeout(() => resolve(text('late')), 10)),
      },
    })
    const result = s.w.fd_read!(0, ...s.iov(16), RET)
    t.true(result instanceof Promise)
    t.is(await result, 0)
    t.is(s.u32(RET), 4)
    t.deepEqual(s.bytes(BUF, 4), text('late'))
  },
)

test.serial('a nonblocking stdin read answers EAGAIN at once, and the data later', async (t) => {
  let resolveRead: (b: Uint8Array) => void = () => {}
  const s = setupHost({ stdin: { read: () => new Promise<Uint8Array>((r) => (resolveRead = r)) } })
  t.is(s.w.fd_fdstat_set_flags!(0, 4), 0)
  t.is(s.w.fd_read!(0, ...s.iov(16), RET), Errno.AGAIN)
  resolveRead(text('now'))
  await new Promise((r) => setImmediate(r))
  t.is(s.w.fd_read!(0, ...s.iov(16), RET), 0)
  t.is(s.u32(RET), 3)
})

function subscribeClock(s: ReturnType<typeof setupHost>, at: number, userdata: bigint, timeoutNs: bigint) {
  const v = s.view()
  new Uint8Array(s.memory.buffer).fill(0, at, at + 48)
  v.setBigUint64(at, userdata, true)
  v.setUint8(at + 8, 0)
  v.setUint32(at + 16, 1, true)
  v.setBigUint64(at + 24, timeoutNs, true)
}

function subscribeFd(s: ReturnType<typeof setupHost>, at: number, userdata: bigint, type: 1 | 2, fd: number) {
  const v = s.view()
  new Uint8Array(s.memory.buffer).fill(0, at, at + 48)
  v.setBigUint64(at, userdata, true)
  v.setUint8(at + 8, type)
  v.setUint32(at + 16, fd, true)
}

const SUBS = 8192
const EVENTS = 12288

test.serial('poll_oneoff sleeps on a timer without blocking the event loop', async (t) => {
  const s = setupHost()
  subscribeClock(s, SUBS, 77n, 30_000_000n)
  const started = performance.now()
  let ticks = 0
  const ticker = setInterval(() => ticks++, 2)
  const result = s.w.poll_oneoff!(SUBS, EVENTS, 1, RET)
  t.true(result instanceof Promise)
  t.is(await result, 0)
  clearInterval(ticker)
  t.true(performance.now() - started >= 29)
  t.true(ticks > 3, 'timers kept running meanwhile')
  t.is(s.u32(RET), 1)
  t.is(s.u64(EVENTS), 77n)
  t.is(s.bytes(EVENTS + 10, 1)[0], 0, 'a clock event')
})

test.serial('poll_oneoff reports stdin readable when its data comes before the timeout', async (t) => {
  const s = setupHost({
    stdin: {
      read: () => new Promise<Uint8Array>((resolve) => setTimeout(() => resolve(text('ready!')), 15)),
    },
  })
  subscribeClock(s, SUBS, 1n, 5_000_000_000n)
  subscribeFd(s, SUBS + 48, 2n, 1, 0)
  t.is(await s.w.poll_oneoff!(SUBS, EVENTS, 2, RET), 0)
  t.is(s.u32(RET), 1)
  t.is(s.u64(EVENTS), 2n)
  t.is(s.bytes(EVENTS + 10, 1)[0], 1, 'an fd_read event')
  t.is(s.u64(EVENTS + 16), 6n, 'nbytes')
  const read = s.w.fd_read!(0, ...s.iov(16), RET)
  t.is(read, 0, 'the bytes poll saw are read synchronously')
  t.deepEqual(s.bytes(BUF, 6), text('ready!'))
})

test('poll_oneoff answers synchronously when something is ready at once', (t) => {
  const s = setupHost()
  subscribeClock(s, SUBS, 1n, 0n)
  subscribeFd(s, SUBS + 48, 2n, 2, 1)
  subscribeFd(s, SUBS + 96, 3n, 1, 42)
  t.is(s.w.poll_oneoff!(SUBS, EVENTS, 3, RET), 0)
  t.is(s.u32(RET), 3)
  t.is(s.u64(EVENTS + 64), 3n)
  t.is(s.view().getUint16(EVENTS + 64 + 8, true), Errno.BADF, 'a bad fd is an event with an error')
})

test.serial('aborting the signal ends a blocked poll with its reason', async (t) => {
  const controller = new AbortController()
  const s = setupHost({ signal: controller.signal })
  subscribeClock(s, SUBS, 1n, 10_000_000_000n)
  const result = s.w.poll_oneoff!(SUBS, EVENTS, 1, RET)
  setTimeout(() => controller.abort(new Error('workload stopped')), 5)
  await t.throwsAsync(result as Promise<number>, { message: 'workload stopped' })
})

test('every import answers random arguments with an errno and never throws', (t) => {
  const disk = new VirtualDisk({ limits: { maxFileSize: 1 << 20, maxTotalBytes: 4 << 20 } })
  disk.makeDirectory('/d/e')
  disk.writeFile('/d/f', text('0123456789'))
  disk.addSymlink(disk.root, 's', 'd/f')
  const s = setupHost({ disk, stdin: { read: (max) => new Uint8Array(Math.min(max, 3)).fill(65) } })
  let seed = 12345
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed % n
  }
  const mem = new Uint8Array(s.memory.buffer)
  // i32 or i64 per parameter, from wasi/api.h (a path is a pointer and a length).
  const sig: Record<string, string> = {
    args_get: 'ii',
    args_sizes_get: 'ii',
    environ_get: 'ii',
    environ_sizes_get: 'ii',
    clock_res_get: 'ii',
    clock_time_get: 'iIi',
    fd_advise: 'iIIi',
    fd_allocate: 'iII',
    fd_close: 'i',
    fd_datasync: 'i',
    fd_fdstat_get: 'ii',
    fd_fdstat_set_flags: 'ii',
    fd_fdstat_set_rights: 'iII',
    fd_filestat_get: 'ii',
    fd_filestat_set_size: 'iI',
    fd_filestat_set_times: 'iIIi',
    fd_pread: 'iiiIi',
    fd_prestat_get: 'ii',
    fd_prestat_dir_name: 'iii',
    fd_pwrite: 'iiiIi',
    fd_read: 'iiii',
    fd_readdir: 'iiiIi',
    fd_renumber: 'ii',
    fd_seek: 'iIii',
    fd_sync: 'i',
    fd_tell: 'ii',
    fd_write: 'iiii',
    path_create_directory: 'iii',
    path_filestat_get: 'iiiii',
    path_filestat_set_times: 'iiiiIIi',
    path_link: 'iiiiiii',
    path_open: 'iiiiiIIii',
    path_readlink: 'iiiiii',
    path_remove_directory: 'iii',
    path_rename: 'iiiiii',
    path_symlink: 'iiiii',
    path_unlink_file: 'iii',
    proc_raise: 'i',
    sched_yield: '',
    random_get: 'ii',
    sock_accept: 'iii',
    sock_recv: 'iiiiii',
    sock_send: 'iiiii',
    sock_shutdown: 'ii',
  }
  t.deepEqual(
    Object.keys(sig).sort(),
    WASI_FUNCTIONS.filter((f) => f !== 'proc_exit' && f !== 'poll_oneoff').sort(),
  )
  const names = ['d', 'd/f', 'd/e', 's', 'x', 'd/../d/g', '..', '.', 'd/e/']
  const arg = (kind: string) => {
    if (kind === 'I') return BigInt(rand(4) === 0 ? 0xffffffff * rand(9) : rand(64))
    switch (rand(6)) {
      case 0:
        return rand(8) // a small fd, flag set or length
      case 1:
        return PATH // points at a path
      case 2:
        return rand(65536) // anywhere
      case 3:
        return 65536 - rand(8) // at the edge
      case 4:
        return rand(2 ** 32) | 0 // any i32, negative included
      default:
        return IOVS
    }
  }
  const errnos = new Set<number>()
  for (let i = 0; i < 20000; i++) {
    if (i % 50 === 0) {
      for (let j = 0; j < 4096; j++) mem[BUF + j] = rand(256)
      const [ptr] = s.path(names[rand(names.length)]!)
      t.is(ptr, PATH)
      s.view().setUint32(IOVS, BUF, true)
      s.view().setUint32(IOVS + 4, rand(64), true)
    }
    const fn = Object.keys(sig)[rand(Object.keys(sig).length)]!
    const args = [...sig[fn]!].map(arg)
    // Path lengths are the second of a pair: keep them short most of the time.
    const result = s.w[fn]!(
      ...args.map((a, k) => (k > 0 && args[k - 1] === PATH && rand(3) > 0 ? rand(10) : a)),
    )
    if (typeof result !== 'number' || !Number.isInteger(result) || result < 0 || result > 76) {
      t.fail(`${fn}(${args.join(', ')}) returned ${String(result)}`)
      return
    }
    errnos.add(result)
  }
  t.true(errnos.size >= 8, `many different outcomes (${[...errnos].sort((a, b) => a - b).join(' ')})`)
  const snapshot = s.host.snapshot()
  t.deepEqual(WasiHost.fromSnapshot(snapshot, { tape: new LiveTape() }).snapshot(), snapshot)
  t.deepEqual(VirtualDisk.deserialize(disk.serialize()).serialize(), disk.serialize())
})
