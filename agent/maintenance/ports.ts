/**
 * What the maintenance core needs from the rest of the agent: the outgoing
 * migrations (the migration core's public API: OutgoingMigrations satisfies
 * DrainMigrations), this host's VMs, the destinations' free memory (their
 * HostService.GetStats over the peer client), and a journal. No gRPC, no
 * libvirt, no files here; tests plug in small fakes.
 */
import type {
  Clock,
  HostNetwork,
  JobSelector,
  Journal,
  MigrateRequest,
  MigrationPolicy,
  MigrationStatus,
  PolicyRequest,
  Tracer,
  VmInfo,
} from '../migration/index.js';
import type { EnterRequest, Maintenance } from './types.js';

export interface DrainMigrations {
  /** The policy as Migrate would resolve it; throws as Migrate would refuse it. */
  resolvePolicy(policy: PolicyRequest): Promise<MigrationPolicy>;
  /** Runs CheckMigration's checks first: a blocking finding refuses it (FAILED_PRECONDITION, MIGRATION_CHECK_FAILED, every finding). */
  migrate(request: MigrateRequest): Promise<MigrationStatus>;
  /** NOT_FOUND when the job is not (or no longer) known. */
  status(selector: JobSelector): MigrationStatus;
  list(activeOnly: boolean): MigrationStatus[];
  watch(selector: JobSelector, listener: (status: MigrationStatus) => void): { done: Promise<void>; stop: () => void };
  cancel(selector: JobSelector): Promise<MigrationStatus>;
}

export interface DrainHost {
  /** Every VM libvirt knows on this host. */
  listVms(): Promise<VmInfo[]>;
  /** NOT_FOUND when the VM is not on this host. */
  describeVm(vmId: string): Promise<VmInfo>;
  /** The outgoing limit in force (max_parallel 0). */
  maxOutgoing(): number;
  /** Names this host goes by (its certificate name, libvirt's host name, the management address). */
  names(): string[];
  network: Pick<HostNetwork, 'resolve' | 'localAddresses'>;
}

export interface DestinationMemory {
  /** Memory available to new guests on the destination agent, in bytes. */
  availableMemory(dst: string): Promise<number>;
}

/** What the journal keeps: the request as sent (a repeated Enter is compared with it) and the maintenance as it stands. */
export interface MaintenanceRecord {
  request: EnterRequest;
  maintenance: Maintenance;
}

export interface MaintenanceDeps {
  migrations: DrainMigrations;
  host: DrainHost;
  memory: DestinationMemory;
  clock: Clock;
  /** Where the maintenance survives a restart (one record); without it, in memory only. */
  journal?: Journal<MaintenanceRecord>;
  /** A fault of the agent's own: a journal write that failed, an unexpected error of the drain. */
  onError?: (err: unknown) => void;
  /** Every change (host state, logs); phase changes included. */
  onChange?: (maintenance: Maintenance) => void;
  /** Entering, leaving, the drain's end and each VM's outcome, for the log. */
  onEvent?: (event: MaintenanceEvent) => void;
  /** A span per drain, the parent of its migrations' (default: none). */
  tracer?: Tracer;
}

export type MaintenanceEvent =
  | { kind: 'entered'; maintenance: Maintenance }
  | { kind: 'exited'; maintenance: Maintenance; cancelled: number }
  | { kind: 'drained'; maintenance: Maintenance }
  | { kind: 'resumed'; maintenance: Maintenance }
  | { kind: 'vm'; vm: Maintenance['vms'][number] };
