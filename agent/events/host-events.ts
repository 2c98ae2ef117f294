/**
 * What a WatchHost stream carries, in plain terms (no gRPC): events, the
 * snapshot a watcher starts from, and the notice that it must start again.
 */
import type { VmFacts } from '../host/host-info.js';
import type { MaintenancePhase } from '../maintenance/index.js';
import type { MigrationStatus } from '../migration/index.js';

/**
 * A VM's lifecycle change after libvirt's virDomainEventType; migrations are
 * told apart by their detail (STARTED/MIGRATED on the destination,
 * STOPPED/MIGRATED on the source), as an engine mirroring hosts needs them.
 */
export type VmLifecycle =
  | 'defined'
  | 'undefined'
  | 'started'
  | 'paused'
  | 'resumed'
  | 'stopped'
  | 'shutdown'
  | 'pmsuspended'
  | 'crashed'
  | 'migrated-in'
  | 'migrated-out';

export interface VmLifecycleChange {
  vmId: string;
  name: string;
  event: VmLifecycle;
  /** libvirt's detail in lower case without its prefix, e.g. "booted", "migrated", "ioerror". */
  detail: string;
  /** libvirt's own codes, for what the names above do not tell. */
  libvirtEvent: number;
  libvirtDetail: number;
}

export interface HostLimitsFacts {
  maxOutgoing: number;
  maxIncoming: number;
  portRangeFirst: number;
  portRangeLast: number;
}

/** The agent's view of its host, as a whole (an event carries all of it). */
export interface HostStateFacts {
  libvirtConnected: boolean;
  /** The NIC carrying the migration network; "" when none is found. */
  migrationNic: string;
  migrationNicUp: boolean;
  limits: HostLimitsFacts;
  /** Where the host's maintenance stands ('off' when there is none). */
  maintenance: MaintenancePhase;
}

export type HostEvent =
  | { kind: 'vm'; vm: VmLifecycleChange }
  | { kind: 'migration'; job: MigrationStatus }
  | { kind: 'host'; host: HostStateFacts };

/** An event as the hub numbered it. */
export interface RecordedEvent {
  revision: number;
  /** Epoch ms when the agent learned of it. */
  time: number;
  event: HostEvent;
}

export interface HostSnapshot {
  /** Sorted by name (as ListVms). */
  vms: VmFacts[];
  /** Newest first (as ListMigrations). */
  migrations: MigrationStatus[];
  host: HostStateFacts;
}

export type ResyncReason = 'agent-restarted' | 'history-exceeded' | 'watcher-overflow' | 'events-missed' | 'unknown-revision';

/** One message of a watch, in order. */
export type WatchMessage =
  | { kind: 'resync'; revision: number; time: number; reason: ResyncReason; message: string }
  | { kind: 'snapshot'; revision: number; time: number; snapshot: HostSnapshot }
  | ({ kind: 'event' } & RecordedEvent);
