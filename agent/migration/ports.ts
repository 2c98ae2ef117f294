/**
 * The interfaces the migration core needs from the outside world. Adapters
 * implement them (agent/hypervisor over the libvirt client, agent/peers over
 * gRPC, agent/firewall for pinholes, agent/host for the network); the core
 * never imports an adapter, and tests of pure logic use small fakes.
 */
import type { CheckFindings } from './checks/findings.js';
import type { HostFeatures } from './policy/policy.js';
import type { CopyStorage, Compression, JobStats, MigrationPolicy, NetworkRole } from './types.js';
import type { PinholeRequest } from '../../shared/pinhole-request.js';
import type { TraceContext } from './tracing.js';

export type { PinholeRequest };
export * from './tracing.js';

export type VmState = 'running' | 'paused' | 'shutoff' | 'crashed' | 'suspended' | 'other';

/**
 * Where a VM stands in a post-copy migration, from libvirt's state reason:
 * 'active' while post-copy runs, 'failed' once it broke (the source paused,
 * the destination running on what it has: VIR_DOMAIN_PAUSED_POSTCOPY_FAILED,
 * VIR_DOMAIN_RUNNING_POSTCOPY_FAILED), 'none' otherwise.
 */
export type PostcopyState = 'none' | 'active' | 'failed';

export interface VmInfo {
  id: string;
  name: string;
  state: VmState;
  memoryBytes: number;
}

/** A writable disk image of a VM, as copy_storage copies it. */
export interface VmDisk {
  /** The guest's device name (libvirt's target dev), e.g. "vda". */
  target: string;
  /** The image path (the destination creates the same path). */
  path: string;
  /** Image format, e.g. "qcow2", "raw". */
  format: string;
  /** Virtual size in bytes. */
  capacityBytes: number;
  /** Bytes the image holds (what the copy moves). */
  allocationBytes: number;
  /** The backing image, if any (copy_storage incremental keeps it shared). */
  backingPath?: string;
  backingFormat?: string;
}

/**
 * What a VM needs of any host it runs on, read from its live definition (the
 * adapter parses libvirt's XML; the core compares plain facts).
 */
export interface VmRequirements {
  /** libvirt's domain type: 'kvm' (needs /dev/kvm) or 'qemu' (TCG). */
  virtType: string;
  arch: string;
  /** The machine type as the running VM has it, e.g. "pc-i440fx-7.2". */
  machine: string;
  emulator: string;
  cpu: GuestCpu;
  /** <memory>: the most the guest may use, in bytes. */
  memoryBytes: number;
  /** Size of the huge pages backing the guest's memory; 0 for ordinary pages. */
  hugepageBytes: number;
  nics: NicAttachment[];
  disks: VmDiskUse[];
  /** Files QEMU opens at start besides disks (kernel, initrd, firmware), which the destination must have too. */
  bootFiles: RequiredPath[];
  /** Host devices passed through to the guest, described for messages ("PCI 0000:01:00.0"). */
  hostDevices: string[];
  /** Defined persistently (false: transient, it exists only while it runs). */
  persistent: boolean;
}

/** The guest's <cpu>: its mode, its model, and the element itself for libvirt's comparisons. */
export interface GuestCpu {
  /** custom, host-model, host-passthrough, maximum; '' when the definition has none. */
  mode: string;
  /** '' when there is none (host-passthrough). */
  model: string;
  /** The <cpu> element as libvirt wrote it; '' when there is none. */
  xml: string;
}

/** bridge: a host bridge; network: a libvirt network; direct: macvtap on a host interface. */
export type NicAttachmentKind = 'bridge' | 'network' | 'direct';

export interface NicAttachment {
  kind: NicAttachmentKind;
  /** The bridge, network or interface name. */
  source: string;
  mac: string;
}

/** One disk of a VM as its definition has it (what copy_storage and shared storage decide on). */
export interface VmDiskUse {
  /** The guest's device name, e.g. "vda". */
  target: string;
  /** libvirt's device: disk, cdrom, floppy, lun. */
  device: string;
  /** libvirt's source type: file, block, network, volume, ... */
  type: string;
  /** The file or device; '' for network disks and empty drives. */
  path: string;
  readOnly: boolean;
  shareable: boolean;
}

/** A file the destination must have at the same path, and what the guest uses it for. */
export interface RequiredPath {
  path: string;
  /** e.g. "disk vdb (read-only)", "kernel". */
  use: string;
}

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

/**
 * A VNC or SPICE console that listens on one address (libvirt's listen type
 * 'address', or a bare `listen` attribute), as the definition that migrates
 * says it: QEMU on the destination must be able to listen there too.
 */
export interface DisplayListen {
  graphics: 'vnc' | 'spice';
  /** An IP address as libvirt has it (or a host name, which libvirt allows). */
  address: string;
}

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
  /** The VM's definition (domain XML), for hibernation. */
  definition(vmId: string): Promise<string>;
  /** Restores a saved VM, optionally paused; resolves with its id and name. */
  restore(path: string, definition: string, paused: boolean): Promise<{ id: string; name: string }>;
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
  /** The caller's span: the destination's is its child (travels beside the request, not in it). */
  trace?: TraceContext;
}

/** An image to create on the destination: the source disk's path, format and size. */
export interface DiskImageSpec {
  target: string;
  path: string;
  format: string;
  capacityBytes: number;
  /** What the copy writes (the source image's allocation); known to checks, not needed to create. */
  allocationBytes?: number;
  /** Incremental copy: the overlay's backing image, which must exist on the destination. */
  backingPath?: string;
  backingFormat?: string;
}

/**
 * The destination's storage for copy_storage. libvirt copies a disk into an
 * image that exists at the same path (it pre-creates one only for images in
 * a storage pool), so the destination creates it first.
 */
export interface DiskImages {
  /**
   * Creates every image, all or nothing; refuses a path that exists (it
   * would be overwritten) or lies outside the directories allowed to it.
   * Resolves with the paths it created.
   */
  create(specs: readonly DiskImageSpec[]): Promise<string[]>;
  /** Removes images this host created for a migration that failed. */
  remove(paths: readonly string[]): Promise<void>;
  /** What create() would meet for each image, without creating anything. */
  survey(specs: readonly DiskImageSpec[]): Promise<ImageSite[]>;
}

/** Where create() would put one image, and what is there now. */
export interface ImageSite {
  path: string;
  /** Inside the directories this host allows images in. */
  allowed: boolean;
  /** Something exists at the path already. */
  exists: boolean;
  /** The backing image exists (true when the spec has none). */
  backingExists: boolean;
  /** Identifies the filesystem the image would land on: images with the same one share its free space. */
  filesystem: string;
  /** Free bytes there for the agent (0 when the directory cannot be created). */
  freeBytes: number;
}

/**
 * Facts about paths on this host: whether each exists, and whether its
 * filesystem is shared between hosts (NFS, CephFS, GlusterFS... what
 * libvirt's own migration safety check accepts) or local.
 */
export interface StoragePaths {
  inspect(paths: readonly string[]): Promise<PathFacts[]>;
}

export interface PathFacts {
  path: string;
  exists: boolean;
  /** 'unknown': a filesystem whose sharing cannot be told from its type (FUSE). */
  storage: 'shared' | 'local' | 'unknown';
  /** The filesystem's type, for messages, e.g. "nfs", "ext4". */
  filesystem: string;
}

/**
 * The files of a hibernation (mode FILE) on this host: libvirt's saved state
 * and Ferry's definition file beside it. What the files mean (which must not
 * be overwritten, what a definition holds) is the core's (hibernation.ts).
 */
export interface HibernationFiles {
  exists(path: string): Promise<boolean>;
  /** Whether path's directory exists and the agent may create files in it. */
  canCreate(path: string): Promise<boolean>;
  /** Writes the whole content durably, replacing any old file at once (never half written). */
  write(path: string, content: string): Promise<void>;
  /** The file's text; undefined when there is none (or it cannot be read). */
  read(path: string): Promise<string | undefined>;
  /** Removes the file if it is there. */
  remove(path: string): Promise<void>;
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

/** The host's own addresses and routes. */
export interface LocalAddress {
  address: string;
  prefixLength: number;
  interface: string;
  family: 'ipv4' | 'ipv6';
}

export interface Route {
  /** The local address the kernel would use to reach the target. */
  source: string;
  interface: string;
  /** The next hop when the route goes through a gateway. */
  gateway?: string;
}

export interface HostNetwork {
  /** The addresses of the interfaces that are up. */
  localAddresses(): LocalAddress[];
  /** Every address configured here, on interfaces that are down too (a migration NIC that is down keeps its address). */
  configuredAddresses(): Promise<LocalAddress[]>;
  /** Every network interface of the host, bridges without an address included. */
  interfaceNames(): Promise<string[]>;
  routeTo(address: string): Promise<Route>;
  /** Resolves a host name (or returns an address as is); NOT_FOUND if it does not resolve. */
  resolve(host: string): Promise<string>;
  /**
   * Bytes transmitted by an interface since boot. Given the interface that
   * carries the address (a VLAN, a bond, a bridge): every byte sent from that
   * address is counted there, whichever NIC below it the bytes leave by.
   */
  txBytes(iface: string): Promise<number>;
  /** Whether the interface, and the devices it is stacked on, can carry traffic; down when it does not exist. */
  linkState(iface: string): Promise<LinkState>;
  /** The interface carrying the agent's management address. */
  managementInterface(): string | undefined;
}

/** An interface as migrations see it: stacked links judged with the devices under them. */
export interface LinkState {
  up: boolean;
  /** The interface and what it is stacked on, e.g. "bond0.100 (vlan) on bond0 (bond: eth0 up, eth1 down)". */
  description: string;
  /** Why it cannot carry traffic, e.g. "lower device bond0: no slave up"; '' when up. */
  downReason: string;
  mtu: number;
}

/** A hole as opened: what the destination journals to take it back after a restart. */
export interface OpenedPinhole {
  id: string;
  vmId: string;
  jobId: string;
  source: string;
  destination: string;
  ports: readonly number[];
  expiresAt: number;
}

/** One hole per incoming migration (agent/firewall's Firewall satisfies this). */
export interface PinholeGate {
  open(request: PinholeRequest): Promise<OpenedPinhole>;
  /** Ports of the migration range no pinhole holds now. */
  freePorts(): number;
  close(id: string): Promise<boolean>;
  /**
   * After a restart, before the firewall reconciles: takes back holes a
   * previous run opened for jobs that still exist, so reconciling keeps
   * their rules (expired ones are dropped) and close() works on them.
   */
  adopt(holes: readonly OpenedPinhole[]): void;
}

/**
 * Where records survive a restart (agent/journal satisfies this): one per
 * job, the newest write wins, finished records are pruned later.
 */
export interface Journal<T> {
  write(jobId: string, finished: boolean, data: T): Promise<void>;
  load(onCorrupt?: (file: string, err: unknown) => void): Array<{ jobId: string; writtenAt: number; finished: boolean; data: T }>;
  remove(jobId: string): Promise<void>;
}

/** Every wait and every reading of the time in the core goes through this (tests move a manual one). */
export interface Clock {
  now(): number;
  /** Resolves after ms, or at once when the signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Runs fn once ms have passed, unless the returned function is called
   * first. A background expiry (a reservation's): it never keeps the
   * process alive by itself.
   */
  after(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, Math.max(0, ms)).unref();
    return () => clearTimeout(timer);
  },
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};
