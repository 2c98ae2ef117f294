/**
 * Prometheus metrics of ferryd (prom-client): the registry fed by the
 * migration core's public surfaces, and the HTTP endpoint that serves it.
 */
export { AgentMetrics, type AgentMetricsSources } from './agent-metrics.js';
export { startMetricsServer, METRICS_PATH, type MetricsServer, type MetricsServerOptions } from './metrics-server.js';
export type { ObservedPinholes, ListedPinholeGate } from './pinhole-metrics.js';
