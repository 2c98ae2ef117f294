// ferryd's metrics registry for tests that do not run a whole agent: a host
// with libvirt up, its migration NIC up, limits 2/2 and no incoming
// reservation, unless the test says otherwise; every family registered
// (the gRPC interceptor and the pinhole counters are created on first use).
import { AgentMetrics, type AgentMetricsSources } from '../../agent/telemetry/metrics/index.js';
import { FakePinholes } from './fake-ports.js';

export function testAgentMetrics(sources: Partial<AgentMetricsSources> = {}): AgentMetrics {
  const metrics = new AgentMetrics({
    runningJobs: () => [],
    incomingReservations: () => 0,
    limits: () => ({ maxOutgoing: 2, maxIncoming: 2 }),
    libvirtConnected: () => true,
    migrationNic: () => ({ name: 'eth1', up: true }),
    ...sources,
  });
  metrics.rpcInterceptor();
  metrics.observePinholes(Object.assign(new FakePinholes(), { list: () => [] }));
  return metrics;
}
