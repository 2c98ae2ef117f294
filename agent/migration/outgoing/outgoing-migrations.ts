/**
 * Outgoing jobs, what the Migration gRPC service calls (through index.ts).
 * New jobs come in through Migrate (migrate-intake.ts: the caller's policy,
 * the host's checks, the one start path in admission.ts) or, after a restart,
 * from the journal (restart-intake.ts); here they are held: status and watch
 * read them; cancel and parameter changes are job-control.ts's.
 */
import type { CheckReport } from '../checks/findings.js';
import type { BackoffOptions } from './backoff.js';
import { cancelJob, changeJobParams, type ControlDeps, type ParamsChange } from './job-control.js';
import { JobRegistry, type JobSelector } from '../jobs/job-registry.js';
import { type JobWatch, JobWatchers } from '../jobs/job-watchers.js';
import { type JobPage, type JobQuery, pageOf } from '../jobs/job-pages.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import type { OutgoingDeps } from './live-migration.js';
import { noopTracer, type TraceContext } from '../ports.js';
import { endSpanWithJob } from '../jobs/job-span.js';
import type { JournaledJob } from '../jobs/job-journal.js';
import { MigrateIntake } from './migrate-intake.js';
import { PostcopyRecoveries } from './postcopy-recovery.js';
import { type RestoredVm, Restores, type RestoresDeps } from './restores.js';
import { takeBackJobs } from './restart-intake.js';
import { SlotQueue } from './slot-queue.js';
import type { MigrateRequest, MigrationPhase, MigrationPolicy, MigrationStatus, RestoreRequest } from '../types.js';

export interface OutgoingMigrationsOptions
  extends OutgoingDeps,
    ControlDeps,
    Pick<RestoresDeps, 'restoreJournal' | 'onRestoreJournalError'> {
  /** Read at every admission: a changed limit applies to the next job (see limitsChanged). */
  maxOutgoing: () => number;
  /** Retry of a busy destination; defaults to DEFAULT_BACKOFF. */
  backoff?: BackoffOptions;
  random?: () => number;
  retentionMs: number;
  /** Finished jobs kept at most (the oldest forgotten first); default unlimited. */
  maxRetained?: number;
  /** Called at every job transition (the log); previous is null for a new job; trace: the job's span. */
  onTransition?: (status: MigrationStatus, previous: MigrationPhase | null, trace: TraceContext) => void;
  /** The host's policy defaults, read at every Migrate (SIGHUP may change them); default BUILTIN_DEFAULTS. */
  policyDefaults?: () => MigrationPolicy;
}

export class OutgoingMigrations {
  private readonly registry: JobRegistry;
  private readonly slots: SlotQueue;
  private readonly restores: Restores;
  /** Migrate and CheckMigration, before a job exists (migrate-intake.ts). */
  private readonly intake: MigrateIntake;
  /** WatchMigration listeners (a stream that ends must leave none behind). */
  private readonly watchers = new JobWatchers();
  /** Jobs whose post-copy broke, resumed (postcopy-recovery.ts). */
  private readonly postcopyRecoveries: PostcopyRecoveries;

  constructor(private readonly deps: OutgoingMigrationsOptions) {
    this.postcopyRecoveries = new PostcopyRecoveries(deps, deps.random);
    this.registry = new JobRegistry(deps.retentionMs, () => deps.clock.now(), deps.maxRetained);
    this.slots = new SlotQueue(deps.maxOutgoing);
    this.restores = new Restores(deps);
    this.intake = new MigrateIntake(deps, {
      registry: this.registry,
      slots: this.slots,
      tracer: this.tracer,
      register: (job) => this.register(job),
      admissionDeps: () => this.admissionDeps(),
    });
  }

  /**
   * Accepts a job after the host-side checks (migrate-intake.ts). When a slot
   * is free the destination is prepared before answering; a queued job
   * prepares when its turn comes and reports failures in its status.
   */
  migrate(request: MigrateRequest): Promise<MigrationStatus> {
    return this.intake.migrate(request);
  }

  /** CheckMigration: what would stop Migrate with this request; nothing is changed (migrate-intake.ts). */
  check(request: MigrateRequest): Promise<CheckReport> {
    return this.intake.check(request);
  }

  /**
   * A policy as Migrate would resolve it (INVALID_ARGUMENT, or
   * FAILED_PRECONDITION for what this host lacks): for callers that start
   * migrations later with it (a maintenance's drain).
   */
  resolvePolicy(policy: MigrateRequest['policy']): Promise<MigrationPolicy> {
    return this.intake.resolvePolicy(policy);
  }

  /** Restore: a VM saved by a FILE migration, from its saved state and definition (a retry answered once, restores.ts). */
  restoreSaved(request: RestoreRequest): Promise<RestoredVm> {
    return this.restores.restore(request);
  }

  /**
   * After a restart: takes back the jobs a previous run journaled. Finished
   * ones answer status calls for the rest of their retention; unfinished ones
   * are followed to their end (recovery.ts), each holding an outgoing slot,
   * or queued again when they had not started.
   * Returns the number of jobs still being followed.
   */
  recover(records: readonly JournaledJob[]): number {
    const { clock, retentionMs, policyDefaults } = this.deps;
    return takeBackJobs(records, {
      clock,
      retentionMs,
      policyDefaults,
      tracer: this.tracer,
      registry: this.registry,
      slots: this.slots,
      register: (job, restored) => this.register(job, restored),
      jobDeps: () => this.jobDeps(),
      admissionDeps: () => this.admissionDeps(),
    });
  }

  /** Graceful shutdown: Migrate refuses from now on; running jobs are left to libvirt and the next start. */
  stopAccepting(): void {
    this.intake.stopAccepting();
  }

  private register(job: MigrationJob, restored = false): void {
    this.registry.add(job);
    this.deps.journal?.follow(job, restored);
    const notify = this.deps.onTransition;
    if (notify) {
      let lastPhase = job.phase;
      notify(job.snapshot(), null, job.span.context);
      job.subscribe((status) => {
        if (status.phase === lastPhase) return;
        const previous = lastPhase;
        lastPhase = status.phase;
        notify(status, previous, job.span.context);
      });
    }
    // After the log's listener: the final transition is logged before the span ends.
    endSpanWithJob(job);
  }

  private get tracer() {
    return this.deps.tracer ?? noopTracer;
  }

  status(selector: JobSelector): MigrationStatus {
    return this.registry.get(selector).snapshot();
  }

  list(activeOnly: boolean): MigrationStatus[] {
    return this.registry.list(activeOnly).map((j) => j.snapshot());
  }

  /** One page of ListMigrations: filtered, newest first (job-pages.ts). */
  page(query: JobQuery): JobPage {
    return pageOf(this.list(false), query);
  }

  /** Counts for host stats. */
  counts(): { running: number; queued: number } {
    const active = this.registry.list(true);
    const queued = active.filter((j) => j.phase === 'queued').length;
    return { running: active.length - queued, queued };
  }

  /**
   * Follows a job: the listener gets the current status at once, then every
   * change; `done` resolves after the final phase was delivered.
   */
  watch(selector: JobSelector, listener: (status: MigrationStatus) => void): JobWatch {
    return this.watchers.watch(this.registry.get(selector), listener);
  }

  /** Watches of this job still following it (each stream that ended, however, must have stopped its own). */
  watcherCount(jobId: string): number {
    return this.watchers.count(jobId);
  }

  async cancel(selector: JobSelector): Promise<MigrationStatus> {
    const job = this.registry.get(selector);
    await cancelJob(job, this.deps);
    return job.snapshot();
  }

  /**
   * RecoverMigration: resume a post-copy that broke now, without waiting for
   * the link check or the backoff, optionally to another migration address of
   * the destination (dstqemu). FAILED_PRECONDITION (POSTCOPY_NOT_PAUSED) when
   * the job is not paused in post-copy. Resolves once the attempt started.
   */
  async recoverPostcopy(selector: JobSelector, options: { dstqemu?: string } = {}): Promise<MigrationStatus> {
    const job = this.registry.get(selector);
    await this.postcopyRecoveries.recoverNow(job, options);
    return job.snapshot();
  }

  /** Jobs paused in post-copy, waiting to be resumed (GetCapabilities, WatchHost). */
  pausedInPostcopy(): MigrationStatus[] {
    return this.registry
      .list(true)
      .filter((j) => j.phase === 'postcopy-paused' || j.phase === 'recovering')
      .map((j) => j.snapshot());
  }

  async changeParams(selector: JobSelector, change: ParamsChange): Promise<MigrationStatus> {
    const job = this.registry.get(selector);
    await changeJobParams(job, change, this.deps);
    return job.snapshot();
  }

  /** Call after the outgoing limit changed: a raised limit starts queued jobs now. */
  limitsChanged(): void {
    this.slots.wakeNext();
  }

  /** What a running job needs: the host's ports and the post-copy recoveries. */
  private jobDeps(): OutgoingMigrationsOptions {
    return { ...this.deps, postcopy: this.postcopyRecoveries };
  }

  private admissionDeps() {
    return { ...this.jobDeps(), slots: this.slots };
  }
}
