// Small in-memory stand-ins for the migration core's ports, for unit tests of
// its pure logic only (the real adapters are tested on the lab).
import { FerryError } from '../../shared/errors.js';
import type {
  PostcopyState,
  PrepareRecoveryArgs,
  Clock,
  CpuVerdict,
  DisplayListen,
  DiskImageSpec,
  DiskImages,
  GuestQuery,
  GuestSupport,
  HibernationFiles,
  HostNetwork,
  Hypervisor,
  ImageSite,
  IncomingCheckAnswer,
  IncomingCheckArgs,
  IncomingOffer,
  LiveMigrationPlan,
  LinkState,
  LocalAddress,
  OpenedPinhole,
  PathFacts,
  PeerAgents,
  PinholeGate,
  PinholeRequest,
  PrepareIncomingArgs,
  StoragePaths,
  VmDisk,
  VmInfo,
  VmRequirements,
} from '../../agent/migration/ports.js';
import { BASELINE_FEATURES, type HostFeatures } from '../../agent/migration/policy/policy.js';
import type { JobStats } from '../../agent/migration/types.js';
import { sleep } from './wait.js';

export function stats(processed: number, remaining: number, extra: Partial<JobStats> = {}): JobStats {
  const c = { total: processed + remaining, processed, remaining };
  return {
    type: 'unbounded',
    elapsedMs: 0,
    data: c,
    memory: c,
    disk: { total: 0, processed: 0, remaining: 0 },
    bandwidthBytesPerS: 0,
    dirtyRateBytesPerS: 0,
    iteration: 1,
    downtimeMs: 0,
    postcopy: false,
    ...extra,
  };
}

/** A hypervisor whose migrations finish when the test says so. */
export class FakeHypervisor implements Hypervisor {
  vms = new Map<string, VmInfo>();
  plans: LiveMigrationPlan[] = [];
  aborted: string[] = [];
  /** Every steering call, in order: "downtime 500", "postcopy", "suspend", "resume", "speed 100", "speed-postcopy 100". */
  calls: string[] = [];
  disks: VmDisk[] = [];
  hostFeatures: HostFeatures = { ...BASELINE_FEATURES };
  /** Makes the next call of this kind fail once (e.g. 'postcopy'). */
  failNext = new Set<string>();
  current = stats(0, 0, { type: 'none' });
  private pending = new Map<string, { resolve: () => void; reject: (e: unknown) => void }>();

  addVm(id: string, state: VmInfo['state'] = 'running'): void {
    this.vms.set(id, { id, name: `vm-${id.slice(0, 4)}`, state, memoryBytes: 256 << 20 });
  }
  /** describeVm calls so far. */
  describes = 0;
  async describeVm(id: string): Promise<VmInfo> {
    this.describes++;
    const vm = this.vms.get(id);
    if (!vm) throw new FerryError('NOT_FOUND', `no VM ${id}`, { reason: 'VM_NOT_FOUND' });
    return { ...vm };
  }
  async localDisks(): Promise<VmDisk[]> {
    return this.disks.map((d) => ({ ...d }));
  }
  async features(): Promise<HostFeatures> {
    return this.hostFeatures;
  }
  /** What every VM's definition says, unless a test changes it (a plain KVM guest, 256 MiB, no NIC or disk). */
  definition_: Partial<VmRequirements> = {};
  async requirements(id: string): Promise<VmRequirements> {
    const vm = this.vms.get(id);
    if (!vm) throw new FerryError('NOT_FOUND', `no VM ${id}`, { reason: 'VM_NOT_FOUND' });
    return { ...plainGuest(vm.memoryBytes), ...this.definition_ };
  }
  /** Every VM's consoles that listen on one address (none unless a test says otherwise); displayListens calls so far. */
  consoles: DisplayListen[] = [];
  consoleReads = 0;
  async displayListens(id: string): Promise<DisplayListen[]> {
    this.consoleReads++;
    if (!this.vms.has(id)) throw new FerryError('NOT_FOUND', `no VM ${id}`, { reason: 'VM_NOT_FOUND' });
    return this.consoles.map((c) => ({ ...c }));
  }
  /** The guests this host offers; every one unless a test says otherwise. */
  offers: (query: GuestQuery) => GuestSupport = () => ({ offered: true, hostCpuXml: HOST_CPU_XML });
  /** Every domain-capabilities query, in order. */
  queries: GuestQuery[] = [];
  async guestSupport(query: GuestQuery): Promise<GuestSupport> {
    this.queries.push(query);
    return this.offers(query);
  }
  cpuVerdict: (cpuXml: string) => CpuVerdict = () => ({ result: 'identical' });
  /** Every CPU definition compared, in order. */
  compared: string[] = [];
  async compareCpu(_query: GuestQuery, cpuXml: string): Promise<CpuVerdict> {
    this.compared.push(cpuXml);
    return this.cpuVerdict(cpuXml);
  }
  memoryAvailable = 64 * 2 ** 30;
  async availableMemory(): Promise<number> {
    return this.memoryAvailable;
  }
  hugepagesFree = 0;
  async freeHugepages(): Promise<number> {
    return this.hugepagesFree;
  }
  networks: string[] = [];
  async activeNetworks(): Promise<string[]> {
    return [...this.networks];
  }
  /** Perform is "sent" (plans, isMigrating) only once options.sendAfter resolves, as the adapter does. */
  async migrateLive(id: string, plan: LiveMigrationPlan, options: { sendAfter?: Promise<void> } = {}): Promise<void> {
    await options.sendAfter;
    this.plans.push(plan);
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }
  /** Ends the running migration of a VM. */
  complete(id: string): void {
    this.vms.delete(id);
    this.pending.get(id)?.resolve();
  }
  failMigration(id: string, err: unknown): void {
    this.pending.get(id)?.reject(err);
  }
  /** The agent that called perform died: its call ends, libvirt's job (current) goes on. */
  dropCaller(id: string): void {
    const perform = this.pending.get(id);
    this.pending.delete(id);
    perform?.reject(new FerryError('UNAVAILABLE', 'libvirt is not reachable: the connection closed'));
  }
  isMigrating(id: string): boolean {
    return this.pending.has(id);
  }
  /** `current`, except that a post-copy that broke is not running post-copy (libvirt's state reason says so). */
  async jobStats(id?: string): Promise<JobStats> {
    return id !== undefined && this.postcopy.get(id) === 'failed' ? { ...this.current, postcopy: false } : this.current;
  }
  async completedJobStats(): Promise<JobStats | undefined> {
    return stats(300, 0, { type: 'completed', iteration: 3, elapsedMs: 1_234 });
  }
  async abortJob(id: string): Promise<void> {
    this.calls.push('abort');
    this.aborted.push(id);
    const perform = this.pending.get(id);
    if (perform) perform.reject(new FerryError('ABORTED', 'operation aborted: migration job: canceled by client'));
    else this.current = stats(0, 0, { type: 'none' }); // a job followed after a restart
  }
  /** A job this process did not start: ends when the test sets `current` to a non-running type, or breaks its post-copy. */
  async followJob(id: string, signal: AbortSignal): Promise<JobStats | undefined | 'postcopy-failed'> {
    while (!signal.aborted && (this.current.type === 'bounded' || this.current.type === 'unbounded')) {
      if (this.postcopy.get(id) === 'failed') return 'postcopy-failed';
      await sleep(1);
    }
    return this.vms.has(id) ? undefined : this.completedJobStats();
  }
  /** Each VM's post-copy state ('none' unless a test sets it); breakPostcopy sets 'failed'. */
  postcopy = new Map<string, PostcopyState>();
  async postcopyState(id: string): Promise<PostcopyState> {
    if (!this.vms.has(id)) throw new FerryError('NOT_FOUND', `no VM ${id}`, { reason: 'VM_NOT_FOUND' });
    return this.postcopy.get(id) ?? 'none';
  }
  /** What recoveryBlocker answers per VM (none unless a test sets one). */
  recoveryBlockers = new Map<string, string>();
  async recoveryBlocker(id: string): Promise<string | undefined> {
    return this.recoveryBlockers.get(id);
  }
  /** The migration connection broke in post-copy: perform fails as libvirt's does, the VM pauses in post-copy failed. */
  breakPostcopy(id: string): void {
    this.postcopy.set(id, 'failed');
    const vm = this.vms.get(id);
    if (vm) vm.state = 'paused';
    this.failMigration(id, new FerryError('INTERNAL', "operation failed: job 'migration out' failed in post-copy phase"));
  }
  /** Every resume's plan, in order; the call then waits like migrateLive (complete / failMigration / breakPostcopy end it). */
  resumes: LiveMigrationPlan[] = [];
  /** Errors for the next resumes, one each (the attempt fails at once, the VM stays paused in post-copy failed). */
  resumeErrors: unknown[] = [];
  async resumePostcopy(id: string, plan: LiveMigrationPlan): Promise<void> {
    this.resumes.push(plan);
    const next = this.resumeErrors.shift();
    if (next) throw next;
    this.postcopy.set(id, 'active');
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }
  private step(call: string, kind = call): void {
    if (this.failNext.delete(kind)) throw new FerryError('FAILED_PRECONDITION', `libvirt refused ${kind}`);
    this.calls.push(call);
  }
  async setMaxDowntime(_id: string, ms: number): Promise<void> {
    this.step(`downtime ${ms}`, 'downtime');
  }
  async setMaxSpeed(_id: string, mibps: number, options: { postcopy?: boolean } = {}): Promise<void> {
    this.step(`${options.postcopy ? 'speed-postcopy' : 'speed'} ${mibps}`, 'speed');
  }
  async startPostCopy(): Promise<void> {
    this.step('postcopy');
  }
  async suspend(id: string): Promise<void> {
    this.step('suspend');
    const vm = this.vms.get(id);
    if (vm) vm.state = 'paused';
  }
  async resume(id: string): Promise<void> {
    this.step('resume');
    const vm = this.vms.get(id);
    if (vm) vm.state = 'running';
  }
  async save(): Promise<void> {}
  async definition(): Promise<string> {
    return '<domain/>';
  }
  async restore(): Promise<{ id: string; name: string }> {
    return { id: 'x', name: 'x' };
  }
  onIteration(): () => void {
    return () => {};
  }
}

/** The host-model CPU FakeHypervisor reports. */
export const HOST_CPU_XML = "<cpu mode='custom' match='exact'><model fallback='forbid'>Skylake-Client</model></cpu>";

/** What a plain lab guest's definition says: KVM, qemu64, no NIC, no disk. */
export function plainGuest(memoryBytes = 256 << 20): VmRequirements {
  return {
    virtType: 'kvm',
    arch: 'x86_64',
    machine: 'pc-i440fx-7.2',
    emulator: '/usr/bin/qemu-system-x86_64',
    cpu: { mode: 'custom', model: 'qemu64', xml: "<cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model></cpu>" },
    memoryBytes,
    hugepageBytes: 0,
    nics: [],
    disks: [],
    bootFiles: [],
    hostDevices: [],
    persistent: true,
  };
}

export class FakePeers implements PeerAgents {
  prepared: PrepareIncomingArgs[] = [];
  finished: Array<{ jobId: string; success: boolean }> = [];
  prepareError: unknown;
  /** Errors for the next prepares, one each, before prepareError applies. */
  prepareErrors: unknown[] = [];
  /** Every PrepareIncoming call, answered or not, by job id. */
  attempts: string[] = [];
  /** The destination's display address in PrepareIncoming's answer ('' = none). */
  displayAddress = '';
  async prepareIncoming(_dst: string, args: PrepareIncomingArgs): Promise<IncomingOffer> {
    this.attempts.push(args.jobId);
    const next = this.prepareErrors.shift();
    if (next) throw next;
    if (this.prepareError) throw this.prepareError;
    this.prepared.push(args);
    return {
      migrateUri: 'tcp://198.19.0.2:49152',
      listenAddress: '198.19.0.2',
      port: 49152,
      disksPort: 0,
      pinholeExpiresAt: 0,
      dconnuri: 'qemu+tcp://198.18.0.2/system',
      network: args.dstqemu ? 'migration' : 'management',
      displayAddress: this.displayAddress,
    };
  }
  /** Every CheckIncoming, and what the destination answers (nothing found, unless a test says otherwise). */
  checked: IncomingCheckArgs[] = [];
  checkAnswer: IncomingCheckAnswer = { blocking: [], warnings: [], displayAddress: '' };
  checkError: unknown;
  async checkIncoming(_dst: string, args: IncomingCheckArgs): Promise<IncomingCheckAnswer> {
    this.checked.push(args);
    if (this.checkError) throw this.checkError;
    return this.checkAnswer;
  }
  async finishIncoming(_dst: string, args: { jobId: string; success: boolean }): Promise<void> {
    this.finished.push({ jobId: args.jobId, success: args.success });
  }
  /** Every PrepareRecovery, and errors for the next ones (one each). */
  recoveries: PrepareRecoveryArgs[] = [];
  recoveryErrors: unknown[] = [];
  async prepareRecovery(_dst: string, args: PrepareRecoveryArgs): Promise<IncomingOffer> {
    const next = this.recoveryErrors.shift();
    if (next) throw next;
    this.recoveries.push(args);
    const port = 49200 + this.recoveries.length;
    const address = args.dstqemu || '198.19.0.2';
    return {
      migrateUri: `tcp://${address}:${port}`,
      listenAddress: address,
      port,
      disksPort: 0,
      pinholeExpiresAt: 0,
      dconnuri: 'qemu+tcp://198.18.0.2/system',
      network: 'migration',
      displayAddress: '',
    };
  }
}

export class FakeNetwork implements HostNetwork {
  constructor(
    public addresses: LocalAddress[] = [
      { address: '198.18.0.1', prefixLength: 24, interface: 'eth0', family: 'ipv4' },
      { address: '198.19.0.1', prefixLength: 24, interface: 'eth1', family: 'ipv4' },
    ],
  ) {}
  tx = new Map<string, number>([
    ['eth0', 0],
    ['eth1', 0],
  ]);
  /** The addresses routeTo was asked for, in order (each an `ip route get` on a real host). */
  routed: string[] = [];
  localAddresses(): LocalAddress[] {
    return this.addresses.filter((a) => !this.down.has(a.interface) || !this.downHidesAddresses);
  }
  /** Whether a down interface's addresses are missing from localAddresses, as Node's os.networkInterfaces() leaves them out. */
  downHidesAddresses = false;
  async configuredAddresses(): Promise<LocalAddress[]> {
    return this.addresses;
  }
  /** Interfaces without an address too (bridges). */
  bridges: string[] = [];
  async interfaceNames(): Promise<string[]> {
    return ['lo', ...new Set(this.addresses.map((a) => a.interface)), ...this.bridges];
  }
  async routeTo(address: string) {
    this.routed.push(address);
    const own = address.startsWith('198.19.')
      ? this.addresses.find((a) => a.address.startsWith('198.19.'))
      : this.addresses.find((a) => a.address.startsWith('198.18.'));
    return { source: own?.address ?? '198.18.0.1', interface: own?.interface ?? 'eth0' };
  }
  async resolve(host: string): Promise<string> {
    return host;
  }
  async txBytes(iface: string): Promise<number> {
    return this.tx.get(iface) ?? 0;
  }
  /** Interfaces whose link is down (every other one is up). */
  down = new Set<string>();
  /** Why a down interface is down (default: no carrier). */
  downReasons = new Map<string, string>();
  async linkState(iface: string): Promise<LinkState> {
    const up = !this.down.has(iface);
    const downReason = up ? '' : (this.downReasons.get(iface) ?? 'no carrier');
    return { up, description: `${iface} (physical)`, downReason, mtu: 1500 };
  }
  managementInterface(): string {
    return 'eth0';
  }
}

export class FakePinholes implements PinholeGate {
  open_: string[] = [];
  private next = 49152;
  adopted: OpenedPinhole[] = [];
  /** Ports of the range held by no hole. */
  portsFree = 64;
  freePorts(): number {
    return this.portsFree;
  }
  async open(req: PinholeRequest): Promise<OpenedPinhole> {
    const ports = req.disksPort ? [this.next++, this.next++] : [this.next++];
    const id = `ph-${req.jobId}`;
    this.open_.push(id);
    return {
      id,
      vmId: req.vmId,
      jobId: req.jobId,
      source: req.source,
      destination: req.destination,
      ports,
      expiresAt: Date.now() + (req.ttlMs ?? 30_000),
    };
  }
  adopt(holes: readonly OpenedPinhole[]): void {
    for (const hole of holes) {
      this.adopted.push(hole);
      this.open_.push(hole.id);
    }
  }
  async close(id: string): Promise<boolean> {
    const i = this.open_.indexOf(id);
    if (i < 0) return false;
    this.open_.splice(i, 1);
    return true;
  }
}

/** A clock whose sleeps end at once (polls still yield to the event loop). */
export const fastClock: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms).unref();
    return () => clearTimeout(timer);
  },
  sleep: (_ms, signal) => new Promise((resolve) => (signal?.aborted ? resolve() : setTimeout(resolve, 1))),
};

export class FakeDiskImages implements DiskImages {
  created: string[] = [];
  removed: string[] = [];
  error: unknown;
  async create(specs: readonly DiskImageSpec[]): Promise<string[]> {
    if (this.error) throw this.error;
    const paths = specs.map((s) => s.path);
    this.created.push(...paths);
    return paths;
  }
  async remove(paths: readonly string[]): Promise<void> {
    this.removed.push(...paths);
  }
  /** Where each image would go: allowed, free and roomy unless a test says otherwise. */
  site: (spec: DiskImageSpec) => Partial<ImageSite> = () => ({});
  async survey(specs: readonly DiskImageSpec[]): Promise<ImageSite[]> {
    return specs.map((spec) => ({
      path: spec.path,
      allowed: true,
      exists: false,
      backingExists: true,
      filesystem: 'fs1',
      freeBytes: 100 * 2 ** 30,
      ...this.site(spec),
    }));
  }
}

/** Paths on a host: present, on local ext4, unless a test says otherwise. */
export class FakeStoragePaths implements StoragePaths {
  facts = new Map<string, Partial<PathFacts>>();
  inspected: string[] = [];
  async inspect(paths: readonly string[]): Promise<PathFacts[]> {
    this.inspected.push(...paths);
    return paths.map((path) => ({ path, exists: true, storage: 'local', filesystem: 'ext4', ...this.facts.get(path) }));
  }
}

/** Files in memory; directories are writable unless listed in readOnlyDirs. */
export class FakeHibernationFiles implements HibernationFiles {
  files = new Map<string, string>();
  readOnlyDirs = new Set<string>();
  /** Every write and remove, in order: "write /x", "remove /y". */
  log: string[] = [];
  async exists(path: string): Promise<boolean> {
    return this.files.has(path);
  }
  async canCreate(path: string): Promise<boolean> {
    return !this.readOnlyDirs.has(path.slice(0, path.lastIndexOf('/')) || '/');
  }
  async write(path: string, content: string): Promise<void> {
    this.log.push(`write ${path}`);
    this.files.set(path, content);
  }
  async read(path: string): Promise<string | undefined> {
    return this.files.get(path);
  }
  async remove(path: string): Promise<void> {
    this.log.push(`remove ${path}`);
    this.files.delete(path);
  }
}

/** A clock that only moves when the test says so; sleeps end when it passes their end. */
export class ManualClock implements Clock {
  private t = 1_000_000;
  private sleepers: Array<{ until: number; wake: () => void }> = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const entry = { until: this.t + Math.max(0, ms), wake: () => resolve() };
      this.sleepers.push(entry);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((e) => e !== entry);
          resolve();
        },
        { once: true },
      );
    });
  }
  after(ms: number, fn: () => void): () => void {
    const stop = new AbortController();
    void this.sleep(ms, stop.signal).then(() => {
      if (!stop.signal.aborted) fn();
    });
    return () => stop.abort();
  }
  /** Moves time forward, waking sleepers in order and letting each run. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const next = this.sleepers.filter((e) => e.until <= end).sort((a, b) => a.until - b.until)[0];
      if (!next) break;
      this.t = Math.max(this.t, next.until);
      this.sleepers = this.sleepers.filter((e) => e !== next);
      next.wake();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** Lets pending promise chains and short timers run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
