// A stand-in ferryd for ferryctl's tests: a grpc-js server on 127.0.0.1 with
// MigrationService and HostService from the generated definitions, which
// RECORDS every request it receives (so a test can assert that a refused
// command line sent nothing) and answers with canned but complete messages
// (timestamps, durations, 64-bit counters, enums, errors) so that the JSON
// printer meets every kind of field. Jobs run on timers: a plan says how
// many progress steps, how far apart, and how the job ends, or that it
// holds in MIGRATING until CancelMigration.
import * as grpc from '@grpc/grpc-js';
import { FerryError } from '../../shared/errors.js';
import { toServiceError } from '../../shared/grpc-status.js';
import { loadFerryProto } from '../../shared/proto.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import type { CheckMigrationResponse } from '../../shared/generated/ferry/v1/CheckMigrationResponse.js';
import type { HostServiceHandlers } from '../../shared/generated/ferry/v1/HostService.js';
import type { JobSelector__Output } from '../../shared/generated/ferry/v1/JobSelector.js';
import type { Maintenance } from '../../shared/generated/ferry/v1/Maintenance.js';
import type { MaintenanceDestination__Output } from '../../shared/generated/ferry/v1/MaintenanceDestination.js';
import type { MaintenanceVm } from '../../shared/generated/ferry/v1/MaintenanceVm.js';
import type { MaintenanceVmState } from '../../shared/generated/ferry/v1/MaintenanceVmState.js';
import type { MigrationProgress } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import type { MigrationServiceHandlers } from '../../shared/generated/ferry/v1/MigrationService.js';
import type { Vm } from '../../shared/generated/ferry/v1/Vm.js';
import type { WatchHostResponse } from '../../shared/generated/ferry/v1/WatchHostResponse.js';
import type { WatchMigrationResponse } from '../../shared/generated/ferry/v1/WatchMigrationResponse.js';
import { unaryHandler } from '../../agent/rpc/handler.js';

export interface Recorded {
  method: string;
  request: Record<string, unknown>;
}

/** How the next job goes. */
export interface JobPlan {
  /** Progress messages between PREPARING and the end. */
  steps: number;
  stepMs: number;
  /**
   * The final phase, or 'hold': stay MIGRATING (a message every stepMs) until
   * cancelled, or 'postcopy-paused': stop in POSTCOPY_PAUSED with a recovery
   * record until RecoverMigration (which answers RECOVERING).
   */
  ending: 'completed' | 'failed' | 'cancelled' | 'hold' | 'postcopy-paused';
}

export const VMS: Vm[] = [
  {
    id: '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50',
    name: 'web1',
    state: 'VM_STATE_RUNNING',
    memoryBytes: 512 * 2 ** 20,
    vcpus: 2,
    persistent: true,
  },
  { id: '7a2b3c4d-1e2f-4a5b-9c8d-112233445566', name: 'db1', state: 'VM_STATE_PAUSED', stateReason: '2', memoryBytes: 2 ** 30, vcpus: 4 },
  // Two VMs with one name (libvirt refuses that on one host; the agent's list is still the authority).
  { id: '8b3c4d5e-2f3a-4b6c-8d9e-aabbccddeeff', name: 'twin', state: 'VM_STATE_RUNNING', memoryBytes: 2 ** 28, vcpus: 1 },
  { id: '9c4d5e6f-3a4b-4c7d-9e0f-ffeeddccbbaa', name: 'twin', state: 'VM_STATE_SHUTOFF', memoryBytes: 2 ** 28, vcpus: 1 },
];

/** The id of the first job after start() or reset(). */
export const FIRST_JOB = '00000000-0000-4000-8000-000000000001';

const STARTED_MS = Date.UTC(2026, 10, 22, 8, 30, 0, 250);

interface FakeJob {
  progress: MigrationProgress;
  watchers: Set<grpc.ServerWritableStream<unknown, WatchMigrationResponse>>;
  timer?: NodeJS.Timeout;
}

export class RecordingAgent {
  readonly requests: Recorded[] = [];
  plan: JobPlan = { steps: 3, stepMs: 30, ending: 'completed' };
  /** What CheckMigration answers: nothing found unless a test says otherwise. */
  checkAnswer: CheckMigrationResponse = { ok: true, blocking: [], warnings: [] };
  /** How the next maintenance's drain ends (WatchMaintenance streams DRAINING, then this). */
  drainEnding: 'drained' | 'incomplete' = 'drained';
  /** The maintenance as GetMaintenance answers it (EnterMaintenance begins one, ExitMaintenance ends it). */
  private maintenance: Maintenance = { phase: 'MAINTENANCE_PHASE_OFF' };
  private readonly server = new grpc.Server();
  private readonly jobs = new Map<string, FakeJob>();
  private readonly failures = new Map<string, FerryError>();
  private jobCount = 0;
  port = 0;

  static async start(credentials = grpc.ServerCredentials.createInsecure()): Promise<RecordingAgent> {
    const agent = new RecordingAgent();
    const v1 = loadFerryProto().grpcObject.ferry.v1;
    agent.server.addService(v1.MigrationService.service, agent.migrationHandlers());
    agent.server.addService(v1.HostService.service, agent.hostHandlers());
    agent.port = await new Promise<number>((resolve, reject) =>
      agent.server.bindAsync('127.0.0.1:0', credentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
    return agent;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The requests of one method, in order. */
  calls(method: string): Record<string, unknown>[] {
    return this.requests.filter((r) => r.method === method).map((r) => r.request);
  }

  /** The next call of `method` fails with `error` (sent with its google.rpc.Status details). */
  failNext(method: string, error: FerryError): void {
    this.failures.set(method, error);
  }

  /** Forgets requests, failures and jobs (the next job id is FIRST_JOB again); the next job follows the default plan. */
  reset(): void {
    for (const job of this.jobs.values()) clearTimeout(job.timer);
    this.jobs.clear();
    this.jobCount = 0;
    this.requests.length = 0;
    this.failures.clear();
    this.plan = { steps: 3, stepMs: 30, ending: 'completed' };
    this.checkAnswer = { ok: true, blocking: [], warnings: [] };
    this.drainEnding = 'drained';
    this.maintenance = { phase: 'MAINTENANCE_PHASE_OFF' };
  }

  async close(): Promise<void> {
    for (const job of this.jobs.values()) clearTimeout(job.timer);
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }

  /** Records the request, then fails as told or answers. */
  private handle<Req, Res>(method: string, answer: (request: Req) => Res): grpc.handleUnaryCall<Req, Res> {
    return unaryHandler(async (request: Req) => {
      this.requests.push({ method, request: request as Record<string, unknown> });
      const failure = this.failures.get(method);
      if (failure) {
        this.failures.delete(method);
        throw failure;
      }
      return answer(request);
    });
  }

  private migrationHandlers(): MigrationServiceHandlers {
    return {
      Migrate: this.handle('Migrate', (r) => {
        const job = this.startJob(r.vmId, r.dst, r.mode === 'MIGRATION_MODE_FILE' ? 'MIGRATION_MODE_FILE' : 'MIGRATION_MODE_REMOTE');
        return { jobId: job.progress.jobId ?? '', vmId: r.vmId, phase: 'MIGRATION_PHASE_PREPARING' };
      }),
      CheckMigration: this.handle('CheckMigration', () => this.checkAnswer),
      WatchMigration: (call) => {
        this.requests.push({ method: 'WatchMigration', request: call.request as unknown as Record<string, unknown> });
        const job = this.find(call.request.job);
        if (!job) {
          call.emit('error', toServiceError(jobNotFound()));
          return;
        }
        call.write({ status: job.progress });
        if (isFinal(job.progress)) {
          call.end();
          return;
        }
        job.watchers.add(call);
        call.on('cancelled', () => job.watchers.delete(call));
      },
      GetMigrationStatus: this.handle('GetMigrationStatus', (r) => ({ status: this.mustFind(r.job).progress })),
      ListMigrations: this.handle('ListMigrations', (r) => {
        const jobs = [...this.jobs.values()].map((j) => j.progress).reverse();
        // Two pages when asked for one job per page, so that paging is exercised.
        if (r.pageSize === 1 && r.pageToken === '' && jobs.length > 1) return { jobs: jobs.slice(0, 1), nextPageToken: 'page-2' };
        return { jobs: r.pageToken === 'page-2' ? jobs.slice(1) : jobs, nextPageToken: '' };
      }),
      CancelMigration: this.handle('CancelMigration', (r) => {
        const job = this.mustFind(r.job);
        if (isFinal(job.progress))
          throw new FerryError('FAILED_PRECONDITION', `job ${job.progress.jobId} already ended`, { reason: 'JOB_FINISHED' });
        this.finish(job, 'cancelled');
        return { status: job.progress };
      }),
      RecoverMigration: this.handle('RecoverMigration', (r) => {
        const job = this.mustFind(r.job);
        if (job.progress.phase !== 'MIGRATION_PHASE_POSTCOPY_PAUSED' || !job.progress.recovery)
          throw new FerryError('FAILED_PRECONDITION', `job ${job.progress.jobId} is not paused in post-copy`, {
            reason: 'POSTCOPY_NOT_PAUSED',
          });
        const recovery = job.progress.recovery;
        Object.assign(job.progress, {
          phase: 'MIGRATION_PHASE_RECOVERING',
          recovery: { ...recovery, attempts: (recovery.attempts ?? 0) + 1, nextAttemptAt: null },
          ...(r.dstqemu ? { migrateUri: `tcp://${r.dstqemu}:49153` } : {}),
        });
        this.publish(job);
        return { status: job.progress };
      }),
      ChangeMigrationParams: this.handle('ChangeMigrationParams', (r) => {
        const job = this.mustFind(r.job);
        if (r.maxDowntime) job.progress.maxDowntime = r.maxDowntime;
        return { status: job.progress };
      }),
      Restore: this.handle('Restore', () => ({ vmId: VMS[0]?.id ?? '', name: VMS[0]?.name ?? '' })),
      SetMigrationLimits: this.handle('SetMigrationLimits', (r) => ({ maxOutgoing: r.maxOutgoing ?? 2, maxIncoming: r.maxIncoming ?? 2 })),
    };
  }

  private hostHandlers(): HostServiceHandlers {
    return {
      GetCapabilities: this.handle('GetCapabilities', () => CAPABILITIES),
      GetStats: this.handle('GetStats', () => STATS),
      ListVms: this.handle('ListVms', () => ({ vms: VMS })),
      WatchHost: (call) => {
        this.requests.push({ method: 'WatchHost', request: call.request as unknown as Record<string, unknown> });
        const base = { incarnation: 'inc-1', time: protoTimeFromMs(STARTED_MS) };
        const messages: WatchHostResponse[] = [
          { ...base, revision: 7, snapshot: { vms: VMS, migrations: [], host: HOST_STATE } },
          {
            ...base,
            revision: 8,
            vm: {
              vmId: VMS[0]?.id ?? '',
              name: 'web1',
              event: 'VM_LIFECYCLE_EVENT_PAUSED',
              detail: 'migration',
              libvirtEvent: 3,
              libvirtDetail: 1,
            },
          },
          { ...base, revision: 9, host: { ...HOST_STATE, migrationNicUp: false } },
        ];
        for (const m of messages) call.write(m);
        // Open until the client goes, as a real agent's stream.
      },
      EnterMaintenance: this.handle('EnterMaintenance', (r) => {
        this.maintenance = drainingMaintenance(r.destinations, r.maxParallel || LIMITS.maxOutgoing);
        return { maintenance: this.maintenance };
      }),
      GetMaintenance: this.handle('GetMaintenance', () => ({ maintenance: this.maintenance })),
      // The maintenance now, then (while it drains) two changes 20 ms apart: a VM migrated, then the drain's end.
      WatchMaintenance: (call) => {
        this.requests.push({ method: 'WatchMaintenance', request: call.request as unknown as Record<string, unknown> });
        call.write({ maintenance: this.maintenance });
        if (this.maintenance.phase !== 'MAINTENANCE_PHASE_DRAINING') {
          call.end();
          return;
        }
        const steps = drainSteps(this.maintenance, this.drainEnding);
        const next = () => {
          const step = steps.shift();
          if (!step || call.cancelled) return;
          this.maintenance = step;
          call.write({ maintenance: step });
          if (steps.length === 0) call.end();
          else setTimeout(next, 20);
        };
        setTimeout(next, 20);
      },
      ExitMaintenance: this.handle('ExitMaintenance', () => {
        const ended = { ...this.maintenance, phase: 'MAINTENANCE_PHASE_OFF' as const };
        this.maintenance = { phase: 'MAINTENANCE_PHASE_OFF' };
        return { maintenance: ended.enteredTime ? ended : this.maintenance };
      }),
    };
  }

  private startJob(vmId: string, dst: string, mode: 'MIGRATION_MODE_REMOTE' | 'MIGRATION_MODE_FILE'): FakeJob {
    this.jobCount++;
    const jobId = `00000000-0000-4000-8000-${String(this.jobCount).padStart(12, '0')}`;
    const job: FakeJob = { progress: progress(jobId, vmId, dst, mode), watchers: new Set() };
    this.jobs.set(jobId, job);
    const plan = { ...this.plan };
    let step = 0;
    const tick = () => {
      step++;
      if (step <= plan.steps || plan.ending === 'hold') {
        const percent = Math.min(95, Math.round((100 * step) / (plan.steps + 1)));
        Object.assign(job.progress, advance(job.progress, percent, step));
        this.publish(job);
        job.timer = setTimeout(tick, plan.stepMs);
        return;
      }
      if (plan.ending === 'postcopy-paused') {
        Object.assign(job.progress, PAUSED);
        this.publish(job);
        return;
      }
      this.finish(job, plan.ending);
    };
    job.timer = setTimeout(tick, plan.stepMs);
    return job;
  }

  private finish(job: FakeJob, ending: 'completed' | 'failed' | 'cancelled'): void {
    clearTimeout(job.timer);
    Object.assign(job.progress, ENDINGS[ending]);
    this.publish(job);
    for (const watcher of job.watchers) watcher.end();
    job.watchers.clear();
  }

  private publish(job: FakeJob): void {
    for (const watcher of job.watchers) watcher.write({ status: job.progress });
  }

  private find(selector: JobSelector__Output | null): FakeJob | undefined {
    if (selector?.jobId) return this.jobs.get(selector.jobId);
    if (selector?.vmId) return [...this.jobs.values()].reverse().find((j) => j.progress.vmId === selector.vmId);
    return undefined;
  }

  private mustFind(selector: JobSelector__Output | null): FakeJob {
    const job = this.find(selector);
    if (!job) throw jobNotFound();
    return job;
  }
}

function jobNotFound(): FerryError {
  return new FerryError('NOT_FOUND', 'no such job', { reason: 'JOB_NOT_FOUND' });
}

function isFinal(p: MigrationProgress): boolean {
  return ['MIGRATION_PHASE_COMPLETED', 'MIGRATION_PHASE_FAILED', 'MIGRATION_PHASE_CANCELLED'].includes(String(p.phase));
}

function progress(jobId: string, vmId: string, dst: string, mode: 'MIGRATION_MODE_REMOTE' | 'MIGRATION_MODE_FILE'): MigrationProgress {
  return {
    jobId,
    vmId,
    dst,
    mode,
    phase: 'MIGRATION_PHASE_PREPARING',
    startedAt: protoTimeFromMs(STARTED_MS),
    elapsed: protoTimeFromMs(12),
    policy: { maxBandwidthMibps: 0, parallelConnections: 1, compression: 'COMPRESSION_NONE', initialDowntime: protoTimeFromMs(100) },
    maxDowntime: protoTimeFromMs(100),
    waiting: '',
  };
}

const TOTAL = 512 * 2 ** 20;

function advance(p: MigrationProgress, percent: number, step: number): MigrationProgress {
  const processed = Math.round((TOTAL * percent) / 100);
  return {
    phase: 'MIGRATION_PHASE_MIGRATING',
    progressPercent: percent,
    data: { totalBytes: TOTAL, processedBytes: processed, remainingBytes: TOTAL - processed },
    memory: { totalBytes: TOTAL, processedBytes: processed, remainingBytes: TOTAL - processed },
    bandwidthBytesPerS: 100 * 2 ** 20,
    dirtyRateBytesPerS: 2 ** 20,
    iteration: step,
    elapsed: protoTimeFromMs(1500 * step),
    migrateUri: 'tcp://198.19.0.2:49152',
    network: 'NETWORK_ROLE_MIGRATION',
    sourceMigrationAddress: '198.19.0.1',
    convergence:
      step > 1
        ? [
            {
              action: 'CONVERGENCE_ACTION_SET_DOWNTIME',
              downtime: protoTimeFromMs(150),
              iteration: 1,
              elapsed: protoTimeFromMs(1500),
              reason: 'schedule step 1 (after iteration 1)',
            },
          ]
        : [],
    ...(p.mode === 'MIGRATION_MODE_FILE' ? { migrateUri: '', network: 'NETWORK_ROLE_UNSPECIFIED' } : {}),
  };
}

/** A post-copy that broke 3 s into the job: one automatic attempt failed, the next one planned. */
const PAUSED: MigrationProgress = {
  phase: 'MIGRATION_PHASE_POSTCOPY_PAUSED',
  progressPercent: 90,
  bandwidthBytesPerS: 0,
  recovery: {
    cause: 'operation failed: job "migration out" failed in post-copy phase',
    pausedAt: protoTimeFromMs(STARTED_MS + 3_000),
    deadline: protoTimeFromMs(STARTED_MS + 603_000),
    attempts: 1,
    lastError: 'unable to connect to 198.19.0.2:49153: No route to host',
    nextAttemptAt: protoTimeFromMs(STARTED_MS + 5_000),
    resumed: 0,
  },
};

const FINISHED = { finishedAt: protoTimeFromMs(STARTED_MS + 4_500), elapsed: protoTimeFromMs(4_500) };

const ENDINGS: Record<'completed' | 'failed' | 'cancelled', MigrationProgress> = {
  completed: {
    ...FINISHED,
    phase: 'MIGRATION_PHASE_COMPLETED',
    progressPercent: 100,
    data: { totalBytes: TOTAL, processedBytes: TOTAL, remainingBytes: 0 },
    downtime: protoTimeFromMs(123.5),
    libvirtElapsed: protoTimeFromMs(4_321),
    bytesOnMigrationNic: 9_007_199_254_740_000,
    bytesOnManagementNic: 65_536,
  },
  failed: {
    ...FINISHED,
    phase: 'MIGRATION_PHASE_FAILED',
    warnings: ['the route to 198.19.0.2 leaves through a gateway'],
    error: {
      step: 'perform',
      message: 'operation failed: migration job: unexpectedly failed',
      code: 'FAILED_PRECONDITION',
      libvirtCode: 1,
      libvirtCodeName: 'VIR_ERR_INTERNAL_ERROR',
      vmState: 'VM_STATE_RUNNING',
    },
  },
  cancelled: { ...FINISHED, phase: 'MIGRATION_PHASE_CANCELLED' },
};

/** A drain just begun: web1 migrating (to the first destination), db1 (paused) and twin pending. */
function drainingMaintenance(destinations: MaintenanceDestination__Output[], maxParallel: number): Maintenance {
  const to = destinations[0]?.host ?? 'lab2';
  return {
    phase: 'MAINTENANCE_PHASE_DRAINING',
    enteredTime: protoTimeFromMs(STARTED_MS),
    destinations: destinations.map((d) => ({ host: d.host, dstqemu: d.dstqemu })),
    maxParallel,
    policy: { postCopy: true },
    vms: [
      maintenanceVm(1, 'MAINTENANCE_VM_STATE_PENDING'),
      maintenanceVm(2, 'MAINTENANCE_VM_STATE_PENDING'),
      { ...maintenanceVm(0, 'MAINTENANCE_VM_STATE_MIGRATING'), destination: to, jobId: FIRST_JOB },
    ],
  };
}

function maintenanceVm(i: number, state: MaintenanceVmState): MaintenanceVm {
  const vm = VMS[i];
  return { vmId: vm?.id ?? '', name: vm?.name ?? '', state, memoryBytes: vm?.memoryBytes ?? 0, destination: '', jobId: '', attempts: [] };
}

/** What WatchMaintenance streams after the first message: web1 arrived, then every VM's end. */
function drainSteps(m: Maintenance, ending: 'drained' | 'incomplete'): Maintenance[] {
  const [db1, twin, web1] = m.vms ?? [];
  const to = web1?.destination ?? 'lab2';
  const arrived = { ...web1, state: 'MAINTENANCE_VM_STATE_MIGRATED' as const };
  const second = m.destinations?.[1]?.host ?? to;
  const moved = (vm: MaintenanceVm | undefined, jobId: string) => ({
    ...vm,
    state: 'MAINTENANCE_VM_STATE_MIGRATED' as const,
    destination: second,
    jobId,
  });
  const last: Maintenance =
    ending === 'drained'
      ? { ...m, phase: 'MAINTENANCE_PHASE_DRAINED', vms: [moved(db1, JOB_2), moved(twin, JOB_3), arrived] }
      : {
          ...m,
          phase: 'MAINTENANCE_PHASE_INCOMPLETE',
          vms: [
            {
              ...db1,
              state: 'MAINTENANCE_VM_STATE_UNMOVABLE',
              attempts: [
                {
                  destination: to,
                  blocking: [
                    {
                      reason: 'MIGRATION_CHECK_REASON_MEMORY_INSUFFICIENT',
                      side: 'MIGRATION_CHECK_SIDE_DESTINATION',
                      message: 'the guest needs 1.0 GiB and the destination has 512 MiB available',
                    },
                  ],
                },
              ],
            },
            {
              ...twin,
              state: 'MAINTENANCE_VM_STATE_FAILED',
              attempts: [{ destination: to, jobId: JOB_2, error: ENDINGS.failed.error ?? null }],
            },
            arrived,
          ],
        };
  return [
    { ...m, vms: [db1 ?? {}, twin ?? {}, arrived] },
    { ...last, drainedTime: protoTimeFromMs(STARTED_MS + 9_000) },
  ];
}

const JOB_2 = '00000000-0000-4000-8000-000000000002';
const JOB_3 = '00000000-0000-4000-8000-000000000003';

const LIMITS = { maxOutgoing: 2, maxIncoming: 3, portRangeFirst: 49152, portRangeLast: 49215 };
const HOST_STATE = {
  libvirtConnected: true,
  migrationNic: 'eth1',
  migrationNicUp: true,
  limits: LIMITS,
  maintenance: 'MAINTENANCE_PHASE_OFF' as const,
};

const CAPABILITIES = {
  hostname: 'lab1',
  hostUuid: '4c4c4544-0042-3510-8044-b4c04f4e4a32',
  ferryVersion: '0.2.0',
  cpu: { model: 'Intel(R) Xeon(R) CPU', vendor: 'GenuineIntel', cores: 2, threads: 4, flags: ['vmx', 'avx2'] },
  memoryBytes: 24 * 2 ** 30,
  nics: [
    { name: 'eth0', addresses: ['198.18.0.1/24'], mac: '52:54:00:00:00:01', speedMbps: 1000, mtu: 1500, state: 'up', management: true },
    { name: 'eth1', addresses: ['198.19.0.1/24'], mac: '52:54:00:00:01:01', speedMbps: 0, mtu: 9000, state: 'up', migration: true },
  ],
  migrationNetwork: { cidr: '198.19.0.0/24', interface: 'eth1', address: '198.19.0.1', up: true },
  libvirtVersion: '9.0.0',
  qemuVersion: '7.2.19',
  kvmAvailable: false,
  firewallBackend: 'iptables',
  limits: LIMITS,
  insecure: true,
  warnings: ['TLS is off (tls.insecure)'],
  // A job of an earlier run, paused in post-copy.
  postcopyPaused: [{ ...progress(JOB_3, VMS[2]?.id ?? '', 'lab3', 'MIGRATION_MODE_REMOTE'), ...PAUSED }],
};

const STATS = {
  time: protoTimeFromMs(STARTED_MS + 0.5),
  cpuPercent: 12.5,
  memoryTotalBytes: 24 * 2 ** 30,
  memoryUsedBytes: 3 * 2 ** 30,
  memoryAvailableBytes: 20 * 2 ** 30,
  nics: [{ name: 'eth1', rxBytes: 123_456_789_012, txBytes: 1, rxBytesPerS: 0, txBytesPerS: 10_485_760 }],
  outgoingMigrations: 1,
  incomingMigrations: 0,
  queuedMigrations: 0,
  agent: {
    rssBytes: 70 * 2 ** 20,
    eventLoopDelayP99: protoTimeFromMs(3.1),
    eventLoopDelayMax: protoTimeFromMs(35),
    uptime: protoTimeFromMs(7_200_000),
  },
};
