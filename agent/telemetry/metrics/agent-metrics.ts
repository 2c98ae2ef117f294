/**
 * ferryd's metrics, in one registry: what agent/main.ts builds when
 * metrics.enabled is true and feeds from the core's public surfaces (job
 * transitions, the job list, the host state, the pinhole gate, a gRPC
 * interceptor). The names and what each means: docs/operations.md#metrics.
 */
import type * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import type { MigrationPhase, MigrationStatus } from '../../migration/index.js';
import { type HostReadings, registerHostMetrics } from './host-metrics.js';
import { registerJobGauges } from './job-gauges.js';
import { MigrationMetrics } from './migration-metrics.js';
import { type ListedPinholeGate, ObservedPinholes } from './pinhole-metrics.js';
import { rpcMetricsInterceptor } from './rpc-metrics.js';

export interface AgentMetricsSources extends Omit<HostReadings, 'activePhases' | 'openPinholes'> {
  /** The outgoing jobs not finished yet (OutgoingMigrations.list(true)). */
  runningJobs(): MigrationStatus[];
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly migrations: MigrationMetrics;
  private pinholes: ObservedPinholes | undefined;

  constructor(sources: AgentMetricsSources, now: () => number = Date.now) {
    // The job gauges first: their reading at a scrape counts the running jobs' convergence actions, before the counter is written out.
    registerJobGauges(this.registry, { running: () => sources.runningJobs(), seen: (s) => this.migrations.countActions(s) });
    this.migrations = new MigrationMetrics(this.registry, now);
    registerHostMetrics(this.registry, {
      libvirtConnected: () => sources.libvirtConnected(),
      migrationNic: () => sources.migrationNic(),
      limits: () => sources.limits(),
      incomingReservations: () => sources.incomingReservations(),
      activePhases: () => sources.runningJobs().map((s) => s.phase),
      openPinholes: () => this.pinholes?.openCount() ?? 0,
    });
  }

  /** Every job phase change (OutgoingMigrations' onTransition). */
  jobTransition(status: MigrationStatus, previous: MigrationPhase | null): void {
    this.migrations.transition(status, previous);
  }

  /** The gate to hand the incoming core instead of the firewall: it counts what becomes of each hole. */
  observePinholes(gate: ListedPinholeGate): ObservedPinholes {
    this.pinholes = new ObservedPinholes(gate, this.registry);
    return this.pinholes;
  }

  rpcInterceptor(): grpc.ServerInterceptor {
    return rpcMetricsInterceptor(this.registry);
  }
}
