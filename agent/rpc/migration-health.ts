/**
 * The gRPC health service `ferry.migration`: SERVING while this host can take
 * and send migrations over its migration network, NOT_SERVING while the agent
 * is not serving at all or the migration NIC is down or missing, so a load
 * balancer or an engine's health probe can tell a host whose management side
 * answers but whose migration network is cut. A host without a migration
 * network migrates over the management network: there it follows the agent.
 * (grpc.health.v1: https://github.com/grpc/grpc/blob/master/doc/health-checking.md)
 */
export const MIGRATION_HEALTH_SERVICE = 'ferry.migration';

/** What the health implementation offers (grpc-health-check's HealthImplementation). */
export interface HealthStatusSink {
  setStatus(service: string, status: 'SERVING' | 'NOT_SERVING'): void;
}

export class MigrationHealth {
  private agentServing = false;
  private linkUsable = false;

  constructor(private readonly health: HealthStatusSink) {
    this.publish();
  }

  /** The agent as a whole serves (ready) or not (starting, shutting down). */
  agent(serving: boolean): void {
    this.agentServing = serving;
    this.publish();
  }

  /** The migration link: usable when up, or when no migration network is configured. */
  link(link: { configured: boolean; up: boolean }): void {
    this.linkUsable = !link.configured || link.up;
    this.publish();
  }

  private publish(): void {
    this.health.setStatus(MIGRATION_HEALTH_SERVICE, this.agentServing && this.linkUsable ? 'SERVING' : 'NOT_SERVING');
  }
}
