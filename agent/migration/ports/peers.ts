/**
 * The PeerAgents port: the destination agent as the source sees it
 * (PrepareIncoming, PrepareRecovery, CheckIncoming, FinishIncoming), with the
 * messages each call carries and answers.
 */
import type { CheckFindings } from '../checks/findings.js';
import type { MigrationPolicy, NetworkRole } from '../types.js';
import type { TraceContext } from '../tracing.js';
import type { DiskImageSpec } from './storage.js';
import type { ColdVolume, VolumePlacement } from './volumes.js';
import type { RequiredPath, VmRequirements } from './vm.js';

export interface IncomingOffer {
  migrateUri: string;
  listenAddress: string;
  port: number;
  disksPort: number;
  pinholeExpiresAt: number;
  dconnuri: string;
  network: NetworkRole;
  /** Where consoles of guests arriving here listen (display.network); '' when the host has none. */
  displayAddress: string;
  /** A cold migration's data channel: `port` (behind the pinhole) takes the volumes. */
  transfer?: TransferOffer;
}

/** What the destination of a cold migration answers besides the port: the secret, and where each volume goes. */
export interface TransferOffer {
  token: Buffer;
  placements: VolumePlacement[];
  /** A hibernation's definition file as the destination writes it ('' when none travels). */
  definitionPath: string;
}

/** PrepareIncoming for a cold migration: the volumes to receive, and a hibernation's definition when one travels. */
export interface ColdIncoming {
  volumes: ColdVolume[];
  hibernation?: HibernationDefinition;
}

/** A hibernation's definition file as the source has it (hibernation.ts writes and reads it). */
export interface HibernationDefinition {
  /** The definition file's path on the source (the destination uses the same path when it may). */
  path: string;
  /** Its content, as written by mode FILE. */
  content: string;
}

export interface PrepareIncomingArgs {
  vmId: string;
  jobId: string;
  sourceHost: string;
  sourceMigrationAddress: string;
  dstqemu: string;
  migrationNetwork: string;
  copyStorage: boolean;
  memoryBytes: number;
  /** copy_storage: the images the destination must create before libvirt copies into them. */
  disks?: DiskImageSpec[];
  /** Mode COLD: the VM is shut off and its volumes travel over Ferry's data channel (no QEMU listens). */
  cold?: ColdIncoming;
  /** The caller's span: the destination's is its child (travels beside the request, not in it). */
  trace?: TraceContext;
}

/** What the destination checks before a migration (PeerService.CheckIncoming). */
export interface IncomingCheckArgs {
  vmId: string;
  /** '' when the source could not choose one. */
  sourceMigrationAddress: string;
  dstqemu: string;
  migrationNetwork: string;
  /** The policy as resolved on the source. */
  policy: MigrationPolicy;
  guest: GuestRequirements;
  /** Files the guest uses at the same path without copying them. */
  paths: RequiredPath[];
  /** copy_storage: the images the destination would create. */
  disks: DiskImageSpec[];
  /** The source's libvirt and QEMU versions (0 when unknown). */
  sourceVersions: { libvirt: number; qemu: number };
  /** As PrepareIncomingArgs.trace. */
  trace?: TraceContext;
}

/** CheckIncoming's answer: the destination's findings, and what it would offer that the source decides on. */
export interface IncomingCheckAnswer extends CheckFindings {
  /** As IncomingOffer.displayAddress ('' also from an agent older than the field). */
  displayAddress: string;
}

/** What the destination compares: the VM's needs, and for host-passthrough the source's host CPU. */
export interface GuestRequirements
  extends Pick<VmRequirements, 'virtType' | 'arch' | 'machine' | 'emulator' | 'cpu' | 'memoryBytes' | 'hugepageBytes' | 'nics'> {
  /** host-passthrough and maximum: the source host's CPU as a <cpu> element ('' otherwise). */
  sourceHostCpuXml: string;
}

/**
 * A resume of a post-copy that broke: the destination checks the VM runs
 * there in post-copy failed for this job and source, and answers with a new
 * listening port behind a new pinhole.
 */
export type PrepareRecoveryArgs = Pick<
  PrepareIncomingArgs,
  'vmId' | 'jobId' | 'sourceHost' | 'sourceMigrationAddress' | 'dstqemu' | 'migrationNetwork' | 'trace'
>;

/** The destination agent, as the source sees it. */
export interface PeerAgents {
  prepareIncoming(dst: string, args: PrepareIncomingArgs): Promise<IncomingOffer>;
  /** PeerService.PrepareRecovery: a new port and pinhole to resume a post-copy that broke. */
  prepareRecovery(dst: string, args: PrepareRecoveryArgs): Promise<IncomingOffer>;
  /** The destination's findings; nothing is reserved. */
  checkIncoming(dst: string, args: IncomingCheckArgs): Promise<IncomingCheckAnswer>;
  finishIncoming(dst: string, args: FinishIncomingArgs): Promise<void>;
}

export interface FinishIncomingArgs {
  jobId: string;
  vmId: string;
  success: boolean;
  errorMessage: string;
  /** As PrepareIncomingArgs.trace. */
  trace?: TraceContext;
}
