/**
 * What the agent tells the outside about itself: structured logs (pino) and Prometheus
 * metrics (prom-client). Nothing here is global: the agent creates a logger and a metrics
 * registry and passes them to its components.
 */
export type { CreateLoggerOptions, LogDestination, Logger } from './logger.ts'
export { createLogger, silentLogger } from './logger.ts'
export type { CreateMetricsOptions, UnderstudyMetrics } from './metrics.ts'
export { createMetrics } from './metrics.ts'
export type { MetricsServer, MetricsSource, ServeMetricsOptions } from './metrics-server.ts'
export { serveMetrics } from './metrics-server.ts'
export { prettyLine } from './pretty-stream.ts'
