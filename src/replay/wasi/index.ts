/**
 * Our WASI preview 1 host and its virtual disk.
 *
 *   const disk = await VirtualDisk.fromHostDir('./seed')
 *   const host = new WasiHost({ args, env, disk, preopens: [{ guestPath: '/', diskPath: '/' }], tape })
 *   const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: host.imports })
 *   host.setMemory(instance.exports.memory)
 *   instance.exports._start()   // proc_exit throws ProcExit
 */
export type { FdKind } from './fd-table.ts'
export type { LinearMemory } from './guest-memory.ts'
export type { SeenClocks, TimeSource } from './live-clocks.ts'
export { LiveClocks, systemTime } from './live-clocks.ts'
export type { InputSource } from './stdin-reader.ts'
export type {
  DirectoryNode,
  DiskLimits,
  DiskNode,
  DiskOptions,
  FileNode,
  SkippedEntry,
  SymlinkNode,
} from './virtual-disk.ts'
export { DEFAULT_DISK_LIMITS, VirtualDisk } from './virtual-disk.ts'
export { Errno, errnoNames } from './wasi-constants.ts'
export { ProcExit, WasiError } from './wasi-error.ts'
export type { HostIo, OutputSink, Preopen, WasiFunction, WasiHostOptions, WasiImport } from './wasi-host.ts'
export { WASI_FUNCTIONS, WasiHost } from './wasi-host.ts'
