/**
 * The ports the Host service needs from the rest of the agent. The host
 * module depends on these interfaces only: the composition root plugs in the
 * libvirt client (HypervisorInfo) and the migration core (MigrationActivity),
 * and tests plug in a few lines of in-memory fakes.
 */
import os from 'node:os';
import { FerryError } from '../../shared/errors.js';
import type { MigrationStatus } from '../migration/index.js';

/** A libvirt domain as ListVms reports it. */
export interface VmSummary {
  /** libvirt's domain UUID. */
  id: string;
  name: string;
  /** "running", "paused", "shutoff", … (libvirt's virDomainState, lower case). */
  state: string;
  /** libvirt's reason for the state, e.g. "migrating", "saved"; "" when none. */
  stateReason: string;
  memoryBytes: number;
  vcpus: number;
  persistent: boolean;
}

/** What the local libvirt knows; each call may fail when libvirt is down. */
export interface HypervisorInfo {
  /** libvirt's host name (virConnectGetHostname). */
  hostname(): Promise<string>;
  /** libvirt's host UUID (from the capabilities XML). */
  hostUuid(): Promise<string>;
  /** e.g. "9.0.0" (virConnectGetLibVersion). */
  libvirtVersion(): Promise<string>;
  /** e.g. "7.2.19" (virConnectGetVersion). */
  qemuVersion(): Promise<string>;
  listVms(): Promise<VmSummary[]>;
}

export interface MigrationCounts {
  /** Outgoing migrations in progress (not queued). */
  outgoing: number;
  /** Incoming migrations prepared and not finished. */
  incoming: number;
  /** Outgoing migrations waiting for a slot. */
  queued: number;
}

/** The migration core as the Host service sees it: counts, nothing to act on. */
export interface MigrationActivity {
  counts(): MigrationCounts;
  /** A Ferry migration of this VM (either direction) is in progress. */
  isMigrating(vmId: string): boolean;
  /** Outgoing jobs paused in post-copy (postcopy-paused or recovering), for GetCapabilities. */
  pausedInPostcopy(): MigrationStatus[];
}

/** Limits in force now; the migration core may change them at run time. */
export interface LimitsInForce {
  maxOutgoing: number;
  maxIncoming: number;
}

/** For a host with no migration core yet (and for `ferryd facts`). */
export const NO_MIGRATIONS: MigrationActivity = Object.freeze({
  counts: () => ({ outgoing: 0, incoming: 0, queued: 0 }),
  isMigrating: () => false,
  pausedInPostcopy: () => [],
});

/**
 * A HypervisorInfo for when there is no libvirt connection (`ferryd facts`, or
 * an agent whose libvirt client is not wired): the OS host name, and
 * UNAVAILABLE for everything libvirt would have to answer.
 */
export function hypervisorUnavailable(reason: string): HypervisorInfo {
  const fail = () =>
    Promise.reject(new FerryError('UNAVAILABLE', `libvirt is not available: ${reason}`, { reason: 'LIBVIRT_UNAVAILABLE' }));
  return { hostname: async () => os.hostname(), hostUuid: fail, libvirtVersion: fail, qemuVersion: fail, listVms: fail };
}
