/** Protocol id parts: `/${PROTOCOL_PREFIX}/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`. */
export const PROTOCOL_PREFIX = 'understudy'
export const PROTOCOL_NAME = 'msg'
export const PROTOCOL_VERSION = '1.0.0'

/** First byte of every frame body; a new wire layout gets a new number (and protocol version). */
export const WIRE_VERSION = 1

/** Topics are short names ('group/w1'), never data. */
export const MAX_TOPIC_BYTES = 128
export const MAX_ERROR_CODE_BYTES = 64
export const MAX_ERROR_MESSAGE_BYTES = 1024

/** Largest frame either end accepts: a workload's module travels in one request. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024
/** Bytes of one-way messages waiting for a peer's stream; beyond it new messages are dropped. */
export const MAX_QUEUE_BYTES = 8 * 1024 * 1024
/** Bytes of inbound messages held while an async `authorize` decides; beyond it they are dropped. */
export const MAX_INBOUND_PENDING_BYTES = 8 * 1024 * 1024

/** One request, dial and answer included, when the caller gives no timeout. */
export const REQUEST_TIMEOUT = 30_000
/** Opening the long-lived message stream to a peer (dial included). */
export const OPEN_TIMEOUT = 10_000
/** Reopening a lost message stream: doubling from min to max, with jitter. */
export const RECONNECT_MIN_DELAY = 100
export const RECONNECT_MAX_DELAY = 5000
/** How long a closing end waits for its ERROR frame to flush before resetting the stream. */
export const CLOSE_GRACE = 1000

/** Per connection: one message stream each way plus concurrent requests. */
export const MAX_INBOUND_STREAMS = 128
export const MAX_OUTBOUND_STREAMS = 128
