/**
 * ferryd's metrics endpoint at start: served where ferryd.yaml's metrics
 * keys say (docs/operations.md, "Metrics"), or logged and left off when it
 * cannot listen: migrations matter more than their metrics.
 */
import { errorMessage } from '../../shared/errors.js';
import type { AgentConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { type AgentMetrics, type MetricsServer, startMetricsServer } from '../telemetry/metrics/index.js';

export async function serveMetrics(config: AgentConfig, metrics: AgentMetrics, log: Logger): Promise<MetricsServer | undefined> {
  const { address, port } = config.metrics;
  try {
    const server = await startMetricsServer({
      address,
      port,
      registry: metrics.registry,
      onError: (err) => log.warn('metrics endpoint', { error: errorMessage(err) }),
    });
    log.info('metrics endpoint listening', { address, port: server.port, path: '/metrics' });
    return server;
  } catch (err) {
    log.error('metrics endpoint not started: ferryd runs without it', { error: errorMessage(err) });
    return undefined;
  }
}
