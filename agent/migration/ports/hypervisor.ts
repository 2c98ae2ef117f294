/**
 * The Hypervisor port: what the core asks of this host's libvirt (describe a
 * VM, run and steer a P2P live migration, save and restore, the host's
 * guest support), and the plan of a live migration in the core's terms.
 */
import type { HostFeatures } from '../policy/policy.js';
import type { CopyStorage, Compression, JobStats } from '../types.js';
import type { DisplayListen, PostcopyState, VmDisk, VmInfo, VmRequirements } from './vm.js';

/** Which guest a libvirt query is about: the fields of virConnectGetDomainCapabilities (unset: the host's default). */
export interface GuestQuery {
  virtType: string;
  arch: string;
  machine?: string;
  emulator?: string;
}

/**
 * Whether a host's libvirt offers a guest configuration: when it does, its
 * host-model CPU (a <cpu> element, '' when libvirt has none); when it does
 * not, libvirt's words for why.
 */
export type GuestSupport = { offered: true; hostCpuXml: string } | { offered: false; refusal: string };

/**
 * libvirt's compareHypervisorCPU: the host can give the guest its CPU
 * (identical, or a superset), or cannot (the detail names the missing
 * features); 'unknown' when libvirt cannot compare at all (the detail says why).
 */
export type CpuVerdict = { result: 'identical' | 'superset' } | { result: 'incompatible' | 'unknown'; detail: string };

/** The consoles to move to the destination's display address: every listen on one of `replace` listens on `address` there. */
export interface DisplayMove {
  address: string;
  replace: string[];
}

/** Everything a P2P live migration needs, in the core's terms (no libvirt flags). */
export interface LiveMigrationPlan {
  /** libvirt URI of the destination daemon (e.g. qemu+tls://lab2/system). */
  dconnuri: string;
  /** Where the destination QEMU listens: tcp://ADDR:PORT. */
  migrateUri: string;
  listenAddress: string;
  bandwidthMibps: number;
  parallelConnections: number;
  compression: Compression;
  autoConverge: boolean;
  postCopy: boolean;
  encrypted: boolean;
  /** Name to verify in the destination's TLS certificate (encrypted only). */
  tlsDestination?: string;
  copyStorage: CopyStorage;
  disksPort?: number;
  /** Devices to copy (copy_storage), by target name. */
  migrateDisks: string[];
  initialDowntimeMs: number;
  /**
   * Consoles that listen on an address of the source: the destination starts
   * the guest with them on its display address instead (unset: the
   * definition migrates as it is).
   */
  display?: DisplayMove;
}

/** An offline migration: the definition alone, its disks at the paths the destination chose. */
export interface OfflineMigrationPlan {
  /** libvirt URI of the destination daemon, as for a live migration. */
  dconnuri: string;
  /** Each disk's source path and its path on the destination (unchanged ones may be left out). */
  diskMoves: DiskMove[];
}

export interface DiskMove {
  from: string;
  to: string;
}

export interface Hypervisor {
  /** NOT_FOUND (FerryError) when the VM does not exist on this host. */
  describeVm(vmId: string): Promise<VmInfo>;
  /** The VM's writable file or block disks (what copy_storage copies). */
  localDisks(vmId: string): Promise<VmDisk[]>;
  /** What this host's libvirt and QEMU support. */
  features(): Promise<HostFeatures>;
  /** What the VM needs of a host, from its live definition. */
  requirements(vmId: string): Promise<VmRequirements>;
  /** The VM's consoles that listen on one address, from the definition a migration sends. */
  displayListens(vmId: string): Promise<DisplayListen[]>;
  /** Whether this host's libvirt offers a guest like this (virConnectGetDomainCapabilities). */
  guestSupport(query: GuestQuery): Promise<GuestSupport>;
  /** Whether this host can give such a guest the CPU described by a <cpu> element (virConnectCompareHypervisorCPU). */
  compareCpu(query: GuestQuery, cpuXml: string): Promise<CpuVerdict>;
  /** Memory available to new guests now, in bytes (free, buffers and page cache, as libvirt reports them). */
  availableMemory(): Promise<number>;
  /** Free huge pages of this size on the whole host. */
  freeHugepages(pageBytes: number): Promise<number>;
  /** Names of the libvirt networks that are active on this host. */
  activeNetworks(): Promise<string[]>;
  /**
   * Runs a P2P live migration; resolves when libvirt reports it complete and
   * rejects with the hypervisor's error otherwise (aborted included). The
   * perform call is sent only once `sendAfter` resolves: what the adapter
   * does first (look-ups, event subscriptions) overlaps with it.
   */
  migrateLive(vmId: string, plan: LiveMigrationPlan, options?: { sendAfter?: Promise<void> }): Promise<void>;
  /**
   * Resumes a post-copy migration that broke (the same P2P call with
   * VIR_MIGRATE_POSTCOPY_RESUME) to the new migrate URI of `plan`; resolves
   * when the migration completed, rejects when the attempt failed.
   */
  resumePostcopy(vmId: string, plan: LiveMigrationPlan): Promise<void>;
  /** Where the VM stands in a post-copy migration (on either side); NOT_FOUND when it is not here. */
  postcopyState(vmId: string): Promise<PostcopyState>;
  /**
   * Why this host's half of a broken post-copy cannot take a resume although
   * libvirt says it can (its QEMU no longer answers its monitor), or
   * undefined. Asked by the destination before it offers a new port.
   */
  recoveryBlocker(vmId: string): Promise<string | undefined>;
  /** Statistics of the running job (type 'none' when there is none). */
  jobStats(vmId: string): Promise<JobStats>;
  /** Statistics of the last completed job, if libvirt still has them. */
  completedJobStats(vmId: string): Promise<JobStats | undefined>;
  abortJob(vmId: string, options: { postcopy: boolean }): Promise<void>;
  setMaxDowntime(vmId: string, ms: number): Promise<void>;
  /** postcopy: the cap of the post-copy phase (a separate knob in QEMU). */
  setMaxSpeed(vmId: string, mibps: number, options?: { postcopy?: boolean }): Promise<void>;
  startPostCopy(vmId: string): Promise<void>;
  /** Pauses the guest's vCPUs; allowed while it migrates (the copy then converges). */
  suspend(vmId: string): Promise<void>;
  resume(vmId: string): Promise<void>;
  /** Saves the VM's state to `path` (the VM stops). */
  save(vmId: string, path: string): Promise<void>;
  /** The VM's definition (domain XML), for hibernation: with its secrets (a console password), so keep it private. */
  definition(vmId: string): Promise<string>;
  /**
   * Restores a saved VM, optionally paused; resolves with its id and name.
   * relocated: the definition's disks are not where the saved state says (a
   * cold migration moved them), so it replaces the state's own definition.
   */
  restore(path: string, definition: string, paused: boolean, options?: { relocated?: boolean }): Promise<{ id: string; name: string }>;
  /**
   * Moves a shut-off VM's persistent definition to the destination's libvirt
   * (VIR_MIGRATE_OFFLINE | VIR_MIGRATE_PERSIST_DEST, P2P), which runs its
   * migration hooks; nothing is copied. The source keeps its definition.
   */
  migrateOffline(vmId: string, plan: OfflineMigrationPlan): Promise<void>;
  /** Removes a shut-off VM's definition (its volumes stay); resolves when it is not defined (any more). */
  undefine(vmId: string): Promise<void>;
  /** The domain XML with each disk's source moved (the core never parses XML). */
  relocateDisks(domainXml: string, moves: readonly DiskMove[]): string;
  /** Calls back at every memory iteration of this VM's migration. */
  onIteration(vmId: string, listener: (iteration: number) => void): () => void;
  /**
   * Follows a libvirt job this process did not start (an agent restarted
   * mid-migration): resolves once the VM has no job any more, with libvirt's
   * final statistics when the job completed, undefined when it did not (or
   * when libvirt no longer has them); 'postcopy-failed' when the job is
   * still there but its post-copy broke. Stops early when the signal aborts.
   */
  followJob(vmId: string, signal: AbortSignal): Promise<JobStats | undefined | 'postcopy-failed'>;
}
