/** Protocol id parts: `/${PROTOCOL_PREFIX}/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`. */
export const PROTOCOL_PREFIX = 'understudy'
export const PROTOCOL_NAME = 'status'
export const PROTOCOL_VERSION = '1.0.0'

/** First byte of a status response body. */
export const WIRE_VERSION = 1
/** Largest status response accepted. */
export const MAX_STATUS_BYTES = 64 * 1024

/** One status request, dial included. */
export const TIMEOUT = 3000
/** How long listCandidates looks for peers and waits for their answers, unless told otherwise. */
export const LIST_TIMEOUT = 5000
/** Parallel status requests while listing candidates. */
export const LIST_CONCURRENCY = 32

/**
 * Capacity is advertised as a DHT provider record under one of a few well-known keys.
 * A lookup returns at most k (20) providers per key, so agents spread over shards:
 * 8 shards list up to 160 hosts per round.
 */
export const CAPACITY_NAMESPACE = 'understudy/capacity/v1'
export const CAPACITY_SHARDS = 8
/** Re-advertise this often; provider records outlive it by far (48 h in kad-dht). */
export const ADVERTISE_INTERVAL = 10 * 60_000
/** First retry after an advertisement reached nobody; doubles up to ADVERTISE_INTERVAL. */
export const ADVERTISE_RETRY = 1000
/** After the first success, re-advertise after this long, doubling up to ADVERTISE_INTERVAL. */
export const ADVERTISE_SETTLE = 10_000
export const ADVERTISE_TIMEOUT = 30_000

export const MAX_INBOUND_STREAMS = 16
export const MAX_OUTBOUND_STREAMS = 64
