/**
 * WASI preview 1 constants and struct layouts (from wasi-libc's wasi/api.h,
 * which is generated from the witx definitions).
 */

/** Error numbers (`__wasi_errno_t`, u16). */
export const Errno = {
  SUCCESS: 0,
  TOOBIG: 1,
  ACCES: 2,
  AGAIN: 6,
  BADF: 8,
  BUSY: 10,
  EXIST: 20,
  FAULT: 21,
  FBIG: 22,
  ILSEQ: 25,
  INVAL: 28,
  IO: 29,
  ISDIR: 31,
  LOOP: 32,
  MFILE: 33,
  NAMETOOLONG: 37,
  NOENT: 44,
  NOSPC: 51,
  NOSYS: 52,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTSOCK: 57,
  NOTSUP: 58,
  OVERFLOW: 61,
  PERM: 63,
  SPIPE: 70,
  XDEV: 75,
  NOTCAPABLE: 76,
} as const

/** Names of every errno value, for messages and tests. */
export const errnoNames: readonly string[] = [
  'SUCCESS',
  '2BIG',
  'ACCES',
  'ADDRINUSE',
  'ADDRNOTAVAIL',
  'AFNOSUPPORT',
  'AGAIN',
  'ALREADY',
  'BADF',
  'BADMSG',
  'BUSY',
  'CANCELED',
  'CHILD',
  'CONNABORTED',
  'CONNREFUSED',
  'CONNRESET',
  'DEADLK',
  'DESTADDRREQ',
  'DOM',
  'DQUOT',
  'EXIST',
  'FAULT',
  'FBIG',
  'HOSTUNREACH',
  'IDRM',
  'ILSEQ',
  'INPROGRESS',
  'INTR',
  'INVAL',
  'IO',
  'ISCONN',
  'ISDIR',
  'LOOP',
  'MFILE',
  'MLINK',
  'MSGSIZE',
  'MULTIHOP',
  'NAMETOOLONG',
  'NETDOWN',
  'NETRESET',
  'NETUNREACH',
  'NFILE',
  'NOBUFS',
  'NODEV',
  'NOENT',
  'NOEXEC',
  'NOLCK',
  'NOLINK',
  'NOMEM',
  'NOMSG',
  'NOPROTOOPT',
  'NOSPC',
  'NOSYS',
  'NOTCONN',
  'NOTDIR',
  'NOTEMPTY',
  'NOTRECOVERABLE',
  'NOTSOCK',
  'NOTSUP',
  'NOTTY',
  'NXIO',
  'OVERFLOW',
  'OWNERDEAD',
  'PERM',
  'PIPE',
  'PROTO',
  'PROTONOSUPPORT',
  'PROTOTYPE',
  'RANGE',
  'ROFS',
  'SPIPE',
  'SRCH',
  'STALE',
  'TIMEDOUT',
  'TXTBSY',
  'XDEV',
  'NOTCAPABLE',
]

/** Rights (`__wasi_rights_t`). All defined rights fit in 30 bits, so the host keeps them as numbers. */
export const Rights = {
  FD_DATASYNC: 1 << 0,
  FD_READ: 1 << 1,
  FD_SEEK: 1 << 2,
  FD_FDSTAT_SET_FLAGS: 1 << 3,
  FD_SYNC: 1 << 4,
  FD_TELL: 1 << 5,
  FD_WRITE: 1 << 6,
  FD_ADVISE: 1 << 7,
  FD_ALLOCATE: 1 << 8,
  PATH_CREATE_DIRECTORY: 1 << 9,
  PATH_CREATE_FILE: 1 << 10,
  PATH_LINK_SOURCE: 1 << 11,
  PATH_LINK_TARGET: 1 << 12,
  PATH_OPEN: 1 << 13,
  FD_READDIR: 1 << 14,
  PATH_READLINK: 1 << 15,
  PATH_RENAME_SOURCE: 1 << 16,
  PATH_RENAME_TARGET: 1 << 17,
  PATH_FILESTAT_GET: 1 << 18,
  PATH_FILESTAT_SET_SIZE: 1 << 19,
  PATH_FILESTAT_SET_TIMES: 1 << 20,
  FD_FILESTAT_GET: 1 << 21,
  FD_FILESTAT_SET_SIZE: 1 << 22,
  FD_FILESTAT_SET_TIMES: 1 << 23,
  PATH_SYMLINK: 1 << 24,
  PATH_REMOVE_DIRECTORY: 1 << 25,
  PATH_UNLINK_FILE: 1 << 26,
  POLL_FD_READWRITE: 1 << 27,
  SOCK_SHUTDOWN: 1 << 28,
  SOCK_ACCEPT: 1 << 29,
} as const

export const RIGHTS_ALL = (1 << 30) - 1

/** Rights that mean something on a regular file. */
export const RIGHTS_FILE =
  Rights.FD_DATASYNC |
  Rights.FD_READ |
  Rights.FD_SEEK |
  Rights.FD_FDSTAT_SET_FLAGS |
  Rights.FD_SYNC |
  Rights.FD_TELL |
  Rights.FD_WRITE |
  Rights.FD_ADVISE |
  Rights.FD_ALLOCATE |
  Rights.FD_FILESTAT_GET |
  Rights.FD_FILESTAT_SET_SIZE |
  Rights.FD_FILESTAT_SET_TIMES |
  Rights.POLL_FD_READWRITE

/** Rights that mean something on a directory. */
export const RIGHTS_DIRECTORY =
  Rights.FD_FDSTAT_SET_FLAGS |
  Rights.FD_SYNC |
  Rights.FD_DATASYNC |
  Rights.FD_ADVISE |
  Rights.PATH_CREATE_DIRECTORY |
  Rights.PATH_CREATE_FILE |
  Rights.PATH_LINK_SOURCE |
  Rights.PATH_LINK_TARGET |
  Rights.PATH_OPEN |
  Rights.FD_READDIR |
  Rights.PATH_READLINK |
  Rights.PATH_RENAME_SOURCE |
  Rights.PATH_RENAME_TARGET |
  Rights.PATH_FILESTAT_GET |
  Rights.PATH_FILESTAT_SET_SIZE |
  Rights.PATH_FILESTAT_SET_TIMES |
  Rights.FD_FILESTAT_GET |
  Rights.FD_FILESTAT_SET_TIMES |
  Rights.PATH_SYMLINK |
  Rights.PATH_REMOVE_DIRECTORY |
  Rights.PATH_UNLINK_FILE

/** What a file or directory opened under a directory may inherit. */
export const RIGHTS_DIRECTORY_INHERITING = RIGHTS_DIRECTORY | RIGHTS_FILE

/** stdin/stdout/stderr: no seek or tell, so wasi-libc's isatty() says yes (line-buffered output). */
export const RIGHTS_STDIN =
  Rights.FD_READ | Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_FILESTAT_GET | Rights.POLL_FD_READWRITE
export const RIGHTS_STDOUT =
  Rights.FD_WRITE |
  Rights.FD_FDSTAT_SET_FLAGS |
  Rights.FD_FILESTAT_GET |
  Rights.POLL_FD_READWRITE |
  Rights.FD_DATASYNC |
  Rights.FD_SYNC

export const Filetype = {
  UNKNOWN: 0,
  BLOCK_DEVICE: 1,
  CHARACTER_DEVICE: 2,
  DIRECTORY: 3,
  REGULAR_FILE: 4,
  SOCKET_DGRAM: 5,
  SOCKET_STREAM: 6,
  SYMBOLIC_LINK: 7,
} as const

export const Whence = { SET: 0, CUR: 1, END: 2 } as const

export const Oflags = { CREAT: 1 << 0, DIRECTORY: 1 << 1, EXCL: 1 << 2, TRUNC: 1 << 3 } as const

export const Fdflags = {
  APPEND: 1 << 0,
  DSYNC: 1 << 1,
  NONBLOCK: 1 << 2,
  RSYNC: 1 << 3,
  SYNC: 1 << 4,
} as const
export const FDFLAGS_ALL = 0x1f

export const Fstflags = { ATIM: 1 << 0, ATIM_NOW: 1 << 1, MTIM: 1 << 2, MTIM_NOW: 1 << 3 } as const

export const Lookupflags = { SYMLINK_FOLLOW: 1 << 0 } as const

export const ClockId = { REALTIME: 0, MONOTONIC: 1, PROCESS_CPUTIME_ID: 2, THREAD_CPUTIME_ID: 3 } as const

export const EventType = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const

export const EVENTRWFLAGS_HANGUP = 1 << 0
export const SUBCLOCKFLAGS_ABSTIME = 1 << 0

export const Advice = { NORMAL: 0, NOREUSE: 5 } as const

export const PREOPENTYPE_DIR = 0

/** Struct sizes (bytes). */
export const Layout = {
  IOVEC: 8,
  FDSTAT: 24,
  FILESTAT: 64,
  DIRENT: 24,
  SUBSCRIPTION: 48,
  EVENT: 32,
  PRESTAT: 8,
} as const
