// The Hypervisor port's stand-in: a hypervisor whose migrations finish when the
// test says so, with the job statistics and guest definitions tests build for it.
import { FerryError } from '../../../shared/errors.js';
import type {
  DiskMove,
  OfflineMigrationPlan,
  PostcopyState,
  CpuVerdict,
  DisplayListen,
  GuestQuery,
  GuestSupport,
  Hypervisor,
  LiveMigrationPlan,
  VmDisk,
  VmInfo,
  VmRequirements,
} from '../../../agent/migration/ports.js';
import { BASELINE_FEATURES, type HostFeatures } from '../../../agent/migration/policy/policy.js';
import type { JobStats } from '../../../agent/migration/types.js';
import { sleep } from '../wait.js';

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
  /** Offline migrations asked for, in order (the destination host is not modelled). */
  readonly offlineMigrations: { vmId: string; plan: OfflineMigrationPlan }[] = [];
  /** Makes the next migrateOffline fail with this error. */
  offlineFailure: Error | undefined;
  /** The destination's hypervisor, which an offline migration defines the VM on (shut off). */
  offlineTarget: FakeHypervisor | undefined;
  /** While set, migrateOffline waits for it (an agent that dies meanwhile never sees it end). */
  offlineGate: Promise<void> | undefined;
  async migrateOffline(vmId: string, plan: OfflineMigrationPlan): Promise<void> {
    this.step('offline');
    await this.offlineGate;
    if (this.offlineFailure) throw this.offlineFailure;
    this.offlineMigrations.push({ vmId, plan });
    this.offlineTarget?.addVm(vmId, 'shutoff');
  }
  async undefine(vmId: string): Promise<void> {
    this.step('undefine');
    this.vms.delete(vmId);
  }
  relocateDisks(domainXml: string, moves: readonly DiskMove[]): string {
    return moves.reduce((xml, move) => xml.split(move.from).join(move.to), domainXml);
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
    hostState: [],
    persistent: true,
  };
}
