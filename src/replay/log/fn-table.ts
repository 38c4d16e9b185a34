/**
 * Host functions that a Call entry names by a one-byte id instead of a string.
 * The id is the index + 1 (0 means "a literal name follows"). Part of the wire
 * format: append new names at the end, never reorder or remove one.
 */
export const FN_TABLE: readonly string[] = Object.freeze([
  'clock_time_get',
  'clock_res_get',
  'random_get',
  'fd_read',
  'fd_pread',
  'poll_oneoff',
  'sock_accept',
  'sock_recv',
  'sock_send',
  'sock_shutdown',
  'fd_write',
  'fd_pwrite',
  'fd_seek',
  'fd_tell',
  'fd_close',
  'fd_fdstat_get',
  'fd_filestat_get',
  'fd_readdir',
  'fd_prestat_get',
  'fd_prestat_dir_name',
  'path_open',
  'path_filestat_get',
  'args_get',
  'args_sizes_get',
  'environ_get',
  'environ_sizes_get',
  'sched_yield',
  'proc_exit',
  'proc_raise',
  'memory.grow',
])

const FN_IDS: ReadonlyMap<string, number> = new Map(FN_TABLE.map((name, i) => [name, i + 1]))

/** The id of a tabled name, or 0 when the name must be written out. */
export function fnId(name: string): number {
  return FN_IDS.get(name) ?? 0
}

/** The name for a non-zero id, or undefined if the id is not in the table. */
export function fnName(id: number): string | undefined {
  return FN_TABLE[id - 1]
}
