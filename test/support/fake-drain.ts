// In-memory ports of the maintenance core (agent/maintenance/ports.ts), for
// unit tests of the drain's logic: outgoing migrations whose checks and jobs
// the test decides (a job runs until the test ends it, or ends by itself when
// `autoEnd` says how), this host's VMs, and the destinations' free memory.
import { FerryError } from '../../shared/errors.js';
import {
  type DestinationMemory,
  type DrainHost,
  type DrainMigrations,
  type EnterRequest,
  type Maintenance,
  type MaintenanceDeps,
  MaintenanceMode,
  type MaintenanceRecord,
} from '../../agent/maintenance/index.js';
import type {
  Finding,
  JobSelector,
  MigrateRequest,
  MigrationFailure,
  MigrationPhase,
  MigrationPolicy,
  MigrationStatus,
  PolicyRequest,
  VmInfo,
} from '../../agent/migration/index.js';
import { BUILTIN_DEFAULTS } from '../../agent/migration/index.js';
import { resolvePolicy } from '../../agent/migration/policy/policy.js';
import { refusalOf } from '../../agent/migration/checks/findings.js';
import { FakeNetwork, ManualClock, settle } from './fake-ports.js';
import { MemoryJournal } from './memory-journal.js';

const GiB = 2 ** 30;

export function vm(name: string, memoryGiB = 1, state: VmInfo['state'] = 'running'): VmInfo {
  const n = [...name].reduce((sum, c) => sum + c.charCodeAt(0), 0);
  return { id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, name, state, memoryBytes: memoryGiB * GiB };
}

export class FakeDrainHost implements DrainHost {
  vms: VmInfo[] = [];
  outgoingLimit = 3;
  readonly network = new FakeNetwork();
  /** Names resolving to an address other than themselves. */
  readonly resolves = new Map<string, string>();

  constructor(...vms: VmInfo[]) {
    this.vms = vms;
    this.network.resolve = async (host) => {
      if (host === 'nowhere') throw new FerryError('NOT_FOUND', `${host} does not resolve`);
      return this.resolves.get(host) ?? host;
    };
  }

  async listVms(): Promise<VmInfo[]> {
    return this.vms.map((v) => ({ ...v }));
  }

  async describeVm(vmId: string): Promise<VmInfo> {
    const found = this.vms.find((v) => v.id === vmId);
    if (!found) throw new FerryError('NOT_FOUND', `no VM ${vmId}`, { reason: 'VM_NOT_FOUND' });
    return { ...found };
  }

  maxOutgoing(): number {
    return this.outgoingLimit;
  }

  names(): string[] {
    return ['lab1', '198.18.0.1'];
  }
}

export class FakeMemory implements DestinationMemory {
  constructor(readonly free: Map<string, number> = new Map()) {}
  asked: string[] = [];
  async availableMemory(dst: string): Promise<number> {
    this.asked.push(dst);
    const bytes = this.free.get(dst);
    if (bytes === undefined) throw new FerryError('UNAVAILABLE', `${dst} is not reachable`, { reason: 'DESTINATION_UNREACHABLE' });
    return bytes;
  }
}

interface FakeJob {
  status: MigrationStatus;
  listeners: Set<(s: MigrationStatus) => void>;
  ends: Set<() => void>;
}

export class FakeDrainMigrations implements DrainMigrations {
  private readonly jobs = new Map<string, FakeJob>();
  private count = 0;
  /** What Migrate's checks find blocking, per "vmId→dst" (nothing: they pass). */
  readonly blocking = new Map<string, Finding[]>();
  /** Migrate calls refused with this error (after the checks passed), per "vmId→dst". */
  readonly refusals = new Map<string, FerryError>();
  /** Jobs to these destinations fail at once with this error. */
  readonly failingDestinations = new Map<string, MigrationFailure>();
  /** When set, every job ends so (after a tick) without the test ending it. */
  autoEnd: 'completed' | undefined;
  /** Every Migrate call (each runs the checks), in order. */
  checks: Array<{ vmId: string; dst: string }> = [];
  started: MigrateRequest[] = [];
  cancelled: string[] = [];
  /** The most jobs running at once. */
  peak = 0;

  static key(vmId: string, dst: string): string {
    return `${vmId}→${dst}`;
  }

  async resolvePolicy(policy: PolicyRequest): Promise<MigrationPolicy> {
    return resolvePolicy(policy, BUILTIN_DEFAULTS);
  }

  /** As OutgoingMigrations.migrate: its checks first (a blocking finding refuses it as Migrate does), then the job. */
  async migrate(request: MigrateRequest): Promise<MigrationStatus> {
    this.checks.push({ vmId: request.vmId, dst: request.dst });
    const blocking = this.blocking.get(FakeDrainMigrations.key(request.vmId, request.dst)) ?? [];
    const refusedByChecks = refusalOf({ blocking, warnings: [] }, `vm/${request.vmId}`);
    if (refusedByChecks) throw refusedByChecks;
    const refusal = this.refusals.get(FakeDrainMigrations.key(request.vmId, request.dst));
    if (refusal) throw refusal;
    this.started.push(request);
    const job = this.add(request.vmId, request.dst);
    this.peak = Math.max(this.peak, this.running().length);
    const failure = this.failingDestinations.get(request.dst);
    if (failure) setImmediate(() => this.end(job.status.jobId, 'failed', failure));
    else if (this.autoEnd) setImmediate(() => this.end(job.status.jobId, 'completed'));
    return { ...job.status };
  }

  /** A job this agent already runs (started by someone else, or recovered after a restart). */
  add(vmId: string, dst: string, jobId = `job-${++this.count}`): FakeJob {
    const job: FakeJob = { status: jobStatus(jobId, vmId, dst, 'migrating'), listeners: new Set(), ends: new Set() };
    this.jobs.set(jobId, job);
    return job;
  }

  end(jobId: string, phase: Extract<MigrationPhase, 'completed' | 'failed' | 'cancelled'>, error?: MigrationFailure): void {
    const job = this.jobs.get(jobId);
    if (!job || job.status.finishedAt !== undefined) return;
    job.status = { ...job.status, phase, finishedAt: 1, ...(error ? { error } : {}) };
    for (const listener of job.listeners) listener({ ...job.status });
    for (const end of [...job.ends]) end();
  }

  running(): MigrationStatus[] {
    return this.list(true);
  }

  status(selector: JobSelector): MigrationStatus {
    const job = 'jobId' in selector ? this.jobs.get(selector.jobId) : undefined;
    if (!job) throw new FerryError('NOT_FOUND', 'no such job', { reason: 'JOB_NOT_FOUND' });
    return { ...job.status };
  }

  list(activeOnly: boolean): MigrationStatus[] {
    return [...this.jobs.values()].map((j) => ({ ...j.status })).filter((s) => !activeOnly || s.finishedAt === undefined);
  }

  watch(selector: JobSelector, listener: (status: MigrationStatus) => void): { done: Promise<void>; stop: () => void } {
    const job = 'jobId' in selector ? this.jobs.get(selector.jobId) : undefined;
    if (!job) throw new FerryError('NOT_FOUND', 'no such job', { reason: 'JOB_NOT_FOUND' });
    let stop = () => {};
    const done = new Promise<void>((resolve) => {
      stop = () => {
        job.listeners.delete(listener);
        job.ends.delete(stop);
        resolve();
      };
      job.listeners.add(listener);
      job.ends.add(stop);
      listener({ ...job.status });
      if (job.status.finishedAt !== undefined) stop();
    });
    return { done, stop };
  }

  async cancel(selector: JobSelector): Promise<MigrationStatus> {
    const { jobId } = this.status(selector);
    this.cancelled.push(jobId);
    this.end(jobId, 'cancelled');
    return this.status(selector);
  }

  /** The destinations the drain started migrations to, by VM name order of start. */
  destinations(): string[] {
    return this.started.map((r) => r.dst);
  }
}

function jobStatus(jobId: string, vmId: string, dst: string, phase: MigrationPhase): MigrationStatus {
  const counters = { total: 0, processed: 0, remaining: 0 };
  return {
    jobId,
    vmId,
    mode: 'remote',
    phase,
    progressPercent: 0,
    maxDowntimeMs: 0,
    downtimeMs: 0,
    elapsedMs: 0,
    migrateUri: '',
    dst,
    sourceMigrationAddress: '',
    bytesOnMigrationNic: 0,
    bytesOnManagementNic: 0,
    warnings: [],
    startedAt: 0,
    policy: { ...BUILTIN_DEFAULTS, schedule: [] },
    convergence: [],
    completionTimeoutMs: 0,
    waiting: '',
    prepareAttempts: 1,
    data: counters,
    memory: counters,
    disk: counters,
    bandwidthBytesPerS: 0,
    dirtyRateBytesPerS: 0,
    iteration: 0,
  };
}

// --- A maintenance over these fakes ---------------------------------------------

export function setup(vms = [vm('a'), vm('b')], free: Record<string, number> = { lab2: 8 * GiB, lab3: 6 * GiB, lab4: 5 * GiB }) {
  const host = new FakeDrainHost(...vms);
  const migrations = new FakeDrainMigrations();
  const memory = new FakeMemory(new Map(Object.entries(free)));
  const journal = new MemoryJournal<MaintenanceRecord>();
  const events: string[] = [];
  const deps: MaintenanceDeps = {
    host,
    migrations,
    memory,
    journal,
    clock: new ManualClock(),
    onEvent: (e) => events.push(e.kind === 'vm' ? `${e.vm.name}:${e.vm.state}` : e.kind),
  };
  return { host, migrations, memory, journal, events, deps, mode: new MaintenanceMode(deps) };
}

export const enterRequest = (hosts: string[] = ['lab2', 'lab3', 'lab4'], extra: Partial<EnterRequest> = {}): EnterRequest => ({
  destinations: hosts.map((host) => ({ host, dstqemu: '' })),
  migrationNetwork: '',
  policy: {},
  maxParallel: 1,
  ...extra,
});

/** Lets the drain run until it has ended (or nothing moves any more). */
export async function drained(mode: MaintenanceMode): Promise<Maintenance> {
  for (let i = 0; i < 100 && mode.phase() === 'draining'; i++) await settle();
  return mode.get();
}
