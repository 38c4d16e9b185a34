/** Protocol id parts: `/${PROTOCOL_PREFIX}/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`. */
export const PROTOCOL_PREFIX = 'understudy'
export const PROTOCOL_NAME = 'log'
export const PROTOCOL_VERSION = '1.0.0'

/** First byte of every frame body; a new wire layout gets a new number (and protocol version). */
export const WIRE_VERSION = 1

export const MAX_LOG_ID_BYTES = 256
export const MAX_ERROR_CODE_BYTES = 64
export const MAX_ERROR_MESSAGE_BYTES = 1024

/** Largest frame either end accepts; also bounds a receiver's partial-frame buffer. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024
/** Largest single entry. Must fit in a frame and in the window. */
export const MAX_ENTRY_BYTES = 1024 * 1024
export const MAX_BATCH_ENTRIES = 4096
/** A sender closes a batch at this many payload bytes (one larger entry still goes alone). */
export const MAX_BATCH_BYTES = 256 * 1024

/** Unacknowledged payload a receiver grants by default: bounds sender and receiver memory. */
export const WINDOW_BYTES = 8 * 1024 * 1024
export const WINDOW_ENTRIES = 65_536

/** Idle sender sends a HEARTBEAT this often; the receiver answers with an ACK. */
export const HEARTBEAT_INTERVAL = 1000
/** Either end gives up on a peer that said nothing for this long. */
export const PEER_TIMEOUT = 5000
/** Opening the stream and exchanging HELLO/WELCOME. */
export const HANDSHAKE_TIMEOUT = 10_000

/** Reconnect backoff of a sender after a lost stream. */
export const RECONNECT_MIN_DELAY = 100
export const RECONNECT_MAX_DELAY = 5000

/** A receiver merges queued batches into one `store` call up to this many entries. */
export const MAX_STORE_ENTRIES = 8192

export const MAX_INBOUND_STREAMS = 64
export const MAX_OUTBOUND_STREAMS = 64
