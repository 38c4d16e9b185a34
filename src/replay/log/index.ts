/**
 * The deterministic execution log: entry framing, hash chain, payload codecs,
 * the log file, and the record / replay Tapes. See each module's header for its format.
 */
export type {
  CallPayload,
  CheckpointPayload,
  DecodedPayload,
  EpochStartPayload,
  ExitPayload,
  InputPayload,
  OutputPayload,
} from './call-codec.ts'
export {
  decodeCall,
  decodeCheckpoint,
  decodeEpochStart,
  decodeExit,
  decodeInput,
  decodeOutput,
  decodePayload,
  encodeCall,
  encodeCheckpoint,
  encodeEpochStart,
  encodeExit,
  encodeInput,
  encodeOutput,
} from './call-codec.ts'
export {
  describeCall,
  describeEntry,
  describeExit,
  describeInput,
  describeOutcome,
  describeOutput,
} from './describe.ts'
export { epochStartFrame } from './epoch-start.ts'
export { FN_TABLE } from './fn-table.ts'
export type { ChainPosition } from './hash-chain.ts'
export { chainNext, GENESIS_HASH, HashChain, sha256, verifyChain } from './hash-chain.ts'
export type { CursorOptions, WaitOptions } from './log-buffer.ts'
export { LogBuffer, LogCursor } from './log-buffer.ts'
export type { DecodedFrame, DecodeOptions } from './log-codec.ts'
export {
  DEFAULT_MAX_PAYLOAD,
  decodeEntry,
  EntryDecoder,
  encodeEntry,
  FRAME_VERSION,
  frameSize,
  kindName,
} from './log-codec.ts'
export type { LogFile, LogFileWriterOptions, LogMeta, ReadLogOptions } from './log-file.ts'
export { LOG_FILE_MAGIC, LOG_FILE_VERSION, LogFileWriter, parseLogFile, readLogFile } from './log-file.ts'
export type { EntrySink, RecorderOptions } from './recorder.ts'
export { Recorder } from './recorder.ts'
export type { EntrySource, ReplayerOptions } from './replayer.ts'
export { isMark, Replayer } from './replayer.ts'
