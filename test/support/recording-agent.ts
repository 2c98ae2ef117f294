// A stand-in ferryd for ferryctl's tests: a grpc-js server on 127.0.0.1 with
// MigrationService and HostService from the generated definitions, which
// RECORDS every request it receives (so a test can assert that a refused
// command line sent nothing) and answers with canned but complete messages
// (timestamps, durations, 64-bit counters, enums, errors) so that the JSON
// printer meets every kind of field. Jobs run on timers: a plan says how
// many progress steps, how far apart, and how the job ends, or that it
// holds in MIGRATING until CancelMigration. The canned messages themselves
// are in recording-agent/ (jobs, host, maintenance).
import * as grpc from '@grpc/grpc-js';
import { FerryError } from '../../shared/errors.js';
import { toServiceError } from '../../shared/grpc-status.js';
import { loadFerryProto } from '../../shared/proto.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import type { CheckMigrationResponse } from '../../shared/generated/ferry/v1/CheckMigrationResponse.js';
import type { HostServiceHandlers } from '../../shared/generated/ferry/v1/HostService.js';
import type { JobSelector__Output } from '../../shared/generated/ferry/v1/JobSelector.js';
import type { Maintenance } from '../../shared/generated/ferry/v1/Maintenance.js';
import type { MigrationProgress } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import type { MigrationServiceHandlers } from '../../shared/generated/ferry/v1/MigrationService.js';
import type { WatchHostResponse } from '../../shared/generated/ferry/v1/WatchHostResponse.js';
import type { WatchMigrationResponse } from '../../shared/generated/ferry/v1/WatchMigrationResponse.js';
import { unaryHandler } from '../../agent/rpc/handler.js';
import { CAPABILITIES, HOST_STATE, LIMITS, STATS, VMS } from './recording-agent/canned-host.js';
import { advance, ENDINGS, FIRST_JOB, isFinal, PAUSED, progress, STARTED_MS } from './recording-agent/canned-jobs.js';
import { coldAt, coldDone, coldStart } from './recording-agent/canned-cold.js';
import { drainingMaintenance, drainSteps } from './recording-agent/canned-maintenance.js';

export { FIRST_JOB, VMS };

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

interface FakeJob {
  progress: MigrationProgress;
  /** Mode COLD: the request's hibernation definition ('' for none), which the destination keeps. */
  dstparams: string;
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
        const mode = r.mode === 'MIGRATION_MODE_FILE' || r.mode === 'MIGRATION_MODE_COLD' ? r.mode : 'MIGRATION_MODE_REMOTE';
        const job = this.startJob(r.vmId, r.dst, mode, { dstparams: r.dstparams, keepSource: r.keepSource ?? false });
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

  private startJob(
    vmId: string,
    dst: string,
    mode: 'MIGRATION_MODE_REMOTE' | 'MIGRATION_MODE_FILE' | 'MIGRATION_MODE_COLD',
    cold: { dstparams: string; keepSource: boolean },
  ): FakeJob {
    this.jobCount++;
    const jobId = `00000000-0000-4000-8000-${String(this.jobCount).padStart(12, '0')}`;
    const started = progress(jobId, vmId, dst, mode);
    if (mode === 'MIGRATION_MODE_COLD') started.coldCopy = coldStart(cold);
    const job: FakeJob = { progress: started, dstparams: cold.dstparams, watchers: new Set() };
    this.jobs.set(jobId, job);
    const plan = { ...this.plan };
    let step = 0;
    const tick = () => {
      step++;
      if (step <= plan.steps || plan.ending === 'hold') {
        const percent = Math.min(95, Math.round((100 * step) / (plan.steps + 1)));
        Object.assign(job.progress, advance(job.progress, percent, step));
        if (job.progress.coldCopy) job.progress.coldCopy = coldAt(job.progress.coldCopy, step);
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
    if (job.progress.coldCopy && ending === 'completed') job.progress.coldCopy = coldDone(job.progress.coldCopy, job.dstparams);
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
