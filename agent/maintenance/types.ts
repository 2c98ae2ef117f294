/**
 * The maintenance core's vocabulary: plain data mirroring the contract's
 * Maintenance messages (proto/ferry/v1/host.proto); agent/rpc converts at
 * the edge.
 */
import type { Finding, MigrationFailure, PolicyRequest } from '../migration/index.js';

/** off: no maintenance; every other phase refuses incoming migrations. */
export type MaintenancePhase = 'off' | 'draining' | 'drained' | 'incomplete';

export type MaintenanceVmState = 'pending' | 'migrating' | 'migrated' | 'unmovable' | 'failed' | 'gone';

/** States a VM of a drain does not leave. */
export const FINAL_VM_STATES: ReadonlySet<MaintenanceVmState> = new Set(['migrated', 'unmovable', 'failed', 'gone']);

export interface MaintenanceDestination {
  /** The destination agent, host[:port], as Migrate's dst. */
  host: string;
  /** Its address on the migration network ('' = the request's migration network, or the destination, decides). */
  dstqemu: string;
}

/** One destination that did not take a VM: its checks blocked, or its migration (jobId) failed, or the call did. */
export interface MaintenanceAttempt {
  destination: string;
  blocking: Finding[];
  /** '' when no job was started. */
  jobId: string;
  error?: MigrationFailure;
}

export interface MaintenanceVm {
  vmId: string;
  name: string;
  state: MaintenanceVmState;
  /** migrating, migrated: where it goes or went ('' otherwise). */
  destination: string;
  /** migrating, migrated: its job ('' otherwise). */
  jobId: string;
  attempts: MaintenanceAttempt[];
  memoryBytes: number;
}

/** EnterMaintenance as the caller sent it, each field checked. */
export interface EnterRequest {
  destinations: MaintenanceDestination[];
  migrationNetwork: string;
  /** As sent: unset fields take the host's defaults when each migration starts. */
  policy: PolicyRequest;
  /** 0: the host's outgoing limit. */
  maxParallel: number;
}

export interface Maintenance {
  phase: MaintenancePhase;
  /** Epoch ms; absent when off. */
  enteredAt?: number;
  /** When the drain ended (drained, incomplete). */
  drainedAt?: number;
  destinations: MaintenanceDestination[];
  migrationNetwork: string;
  policy: PolicyRequest;
  /** Resolved: the outgoing limit when the request said 0. */
  maxParallel: number;
  /** Sorted by name. */
  vms: MaintenanceVm[];
}

export const NO_MAINTENANCE: Readonly<Maintenance> = Object.freeze({
  phase: 'off',
  destinations: [],
  migrationNetwork: '',
  policy: {},
  maxParallel: 0,
  vms: [],
});

export function copyMaintenance(m: Maintenance): Maintenance {
  return structuredClone(m);
}
