/**
 * Outgoing jobs, what the Migration gRPC service calls (through index.ts).
 * Intake: it resolves the caller's policy, checks what only the host can
 * check (the VM exists and runs, no other job holds it), creates the job and
 * hands it to the one start path (admission.ts); status and watch read jobs;
 * cancel and parameter changes are job-control.ts's.
 */
import { randomUUID } from 'node:crypto';
import { splitHostPort } from '../../../shared/net.js';
import { FerryError, invalidArgument } from '../../../shared/errors.js';
import { type CheckReport, refusalOf } from '../checks/findings.js';
import { attemptStart, runAdmitted, type StartAttempt } from './admission.js';
import type { BackoffOptions } from './backoff.js';
import { checkHibernationTargets } from './hibernation.js';
import { cancelJob, changeJobParams, type ControlDeps, type ParamsChange } from './job-control.js';
import { JobRegistry, type JobSelector } from '../jobs/job-registry.js';
import { type JobWatch, JobWatchers } from '../jobs/job-watchers.js';
import { type JobPage, type JobQuery, pageOf } from '../jobs/job-pages.js';
import { MigrationJob } from '../jobs/migration-job.js';
import { identityOf, type RequestIdentity, RequestsInFlight } from '../jobs/request-identity.js';
import type { OutgoingDeps } from './live-migration.js';
import { inSpan, noopTracer, type TraceContext, type TraceSpan, type VmInfo } from '../ports.js';
import { endSpanWithJob } from '../jobs/job-span.js';
import type { JournaledJob } from '../jobs/job-journal.js';
import { PostcopyRecoveries } from './postcopy-recovery.js';
import { recoverJob } from './recovery.js';
import { type RestoredVm, Restores, type RestoresDeps } from './restores.js';
import { SlotQueue } from './slot-queue.js';
import { BASELINE_FEATURES, BUILTIN_DEFAULTS, resolvePolicy, resolvePolicyWithGaps, type HostFeatures } from '../policy/policy.js';
import { checkOutgoing } from './migration-check.js';
import type { MigrateCommand, MigrateRequest, MigrationPhase, MigrationPolicy, MigrationStatus, RestoreRequest } from '../types.js';

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
  /** VMs whose Migrate call is still being answered (closes the check-then-add race). */
  private readonly accepting = new Set<string>();
  /** Set by stopAccepting (graceful shutdown). */
  private closing = false;
  /** What this host's libvirt/QEMU support, asked once libvirt answers. */
  private features: Promise<HostFeatures> | undefined;
  /** Migrate calls with a request id that are still being answered. */
  private readonly migrateCalls = new RequestsInFlight<MigrationStatus>();
  /** WatchMigration listeners (a stream that ends must leave none behind). */
  private readonly watchers = new JobWatchers();
  /** Jobs whose post-copy broke, resumed (postcopy-recovery.ts). */
  private readonly postcopyRecoveries: PostcopyRecoveries;

  constructor(private readonly deps: OutgoingMigrationsOptions) {
    this.postcopyRecoveries = new PostcopyRecoveries(deps, deps.random);
    this.registry = new JobRegistry(deps.retentionMs, () => deps.clock.now(), deps.maxRetained);
    this.slots = new SlotQueue(deps.maxOutgoing);
    this.restores = new Restores(deps);
  }

  /**
   * Accepts a job after the host-side checks. When a slot is free the
   * destination is prepared before answering, so that a bad dstqemu or a
   * destination that is down is the caller's error, with nothing left behind;
   * the migration itself then runs in the background. A destination at its
   * incoming limit is not an error of the call: the job is accepted QUEUED
   * and retries in the background (admission.ts). A queued job prepares
   * when its turn comes and reports failures in its status.
   */
  async migrate(request: MigrateRequest): Promise<MigrationStatus> {
    // The caller's trace is not part of what it asks: a retry under another traceparent is the same request.
    const { requestId, trace, ...asSent } = request;
    if (!requestId) return this.accept(asSent, undefined, trace);
    const identity = identityOf(requestId, asSent);
    return this.migrateCalls.run(
      identity,
      'Migrate request',
      () => {
        const job = this.registry.forRequest(requestId);
        return job?.request && { fingerprint: job.request.fingerprint, answer: () => job.snapshot() };
      },
      () => this.accept(asSent, identity, trace),
    );
  }

  /** A new job (a retry of a known request id never gets here). */
  private accept(
    request: Omit<MigrateRequest, 'requestId' | 'trace'>,
    identity: RequestIdentity | undefined,
    trace: TraceContext | undefined,
  ): Promise<MigrationStatus> {
    const span = this.tracer.startSpan('Migrate', {
      kind: 'server',
      parent: trace,
      attributes: { 'ferry.vm_id': request.vmId, 'ferry.migration.mode': request.mode.toUpperCase(), 'ferry.destination': request.dst },
    });
    return inSpan(span, () => this.acceptTraced(request, identity, span));
  }

  private async acceptTraced(
    request: Omit<MigrateRequest, 'requestId' | 'trace'>,
    identity: RequestIdentity | undefined,
    span: TraceSpan,
  ): Promise<MigrationStatus> {
    if (this.closing) {
      throw new FerryError('UNAVAILABLE', 'ferryd is shutting down and takes no new jobs: retry once it is back', {
        reason: 'AGENT_SHUTTING_DOWN',
      });
    }
    const command = await this.resolve(request);
    if (this.accepting.has(command.vmId)) {
      throw new FerryError('ALREADY_EXISTS', `VM ${command.vmId} is being accepted for another migration`, {
        field: 'vm_id',
        reason: 'ALREADY_MIGRATING',
      });
    }
    this.accepting.add(command.vmId);
    try {
      const { vm, checked } = await inSpan(span.child('checks'), async (checks) => {
        const vm = await this.checkHost(command);
        return { vm, checked: command.mode === 'remote' ? await this.precheck(command, vm, checks) : undefined };
      });
      const release = this.slots.tryAcquire();
      const job = new MigrationJob(randomUUID(), command, () => this.deps.clock.now(), release ? 'preparing' : 'queued', identity);
      span.setAttribute('ferry.job_id', job.id);
      job.span = span.child('migration', { attributes: { 'ferry.job_id': job.id, 'ferry.vm_id': command.vmId } });
      for (const warning of checked?.report.warnings ?? []) job.warn(warning.message);
      let first: { attempt: StartAttempt; release: () => void } | undefined;
      if (release) {
        // A free slot: the first attempt is made before answering, so that a bad
        // dstqemu or a destination that is down is the caller's error, with nothing left behind.
        try {
          first = {
            attempt: await attemptStart(job, this.admissionDeps(), checked?.facts ?? { vm, disks: [], source: undefined }),
            release,
          };
        } catch (err) {
          release();
          job.span.recordError(err);
          job.span.end();
          throw err;
        }
      }
      this.register(job);
      void runAdmitted(job, this.admissionDeps(), first);
      // An answered request id must outlive a crash right after the answer:
      // a retry then finds this job rather than starting a second one.
      if (identity) await this.deps.journal?.durable(job);
      return job.snapshot();
    } finally {
      this.accepting.delete(command.vmId);
    }
  }

  /**
   * CheckMigration: what would stop Migrate with this request, found by the
   * same checks Migrate runs first, on this host and on the destination;
   * nothing is changed. INVALID_ARGUMENT for a request Migrate would refuse
   * as malformed; what the hosts lack is in the report, not thrown.
   */
  async check(request: MigrateRequest): Promise<CheckReport> {
    if (request.mode !== 'remote') {
      throw invalidArgument('mode', 'CheckMigration checks live migrations (mode REMOTE); a hibernation (FILE) involves no other host');
    }
    const { requestId: _ignored, trace, ...asSent } = request;
    const span = this.tracer.startSpan('CheckMigration', { kind: 'server', parent: trace, attributes: { 'ferry.vm_id': request.vmId } });
    return inSpan(span, () => this.checkTraced(asSent, span));
  }

  private async checkTraced(asSent: Omit<MigrateRequest, 'requestId' | 'trace'>, span: TraceSpan): Promise<CheckReport> {
    const features = await this.hostFeatures();
    const defaults = this.deps.policyDefaults?.() ?? BUILTIN_DEFAULTS;
    const command: MigrateCommand = { ...asSent, policy: resolvePolicyWithGaps(asSent.policy, defaults, features).policy };
    await this.deps.network.resolve(splitHostPort(command.dst, 0).host);
    const active = this.registry.activeFor(command.vmId);
    const ferryJob = active
      ? { id: active.id, phase: active.phase }
      : this.accepting.has(command.vmId)
        ? { id: '(being accepted)', phase: 'accepting' as const }
        : undefined;
    const { report } = await checkOutgoing(command, { features, ferryJob, unreachable: 'report', span }, this.deps);
    return report;
  }

  /** Migrate's checks: a blocking finding refuses the request before a job exists (FAILED_PRECONDITION, all findings in its details). */
  private async precheck(command: MigrateCommand, vm: VmInfo, span: TraceSpan) {
    const checked = await checkOutgoing(
      command,
      { features: await this.hostFeatures(), described: vm, unreachable: 'throw', span },
      this.deps,
    );
    const refusal = refusalOf(checked.report, `vm/${command.vmId}`);
    if (refusal) throw refusal;
    return checked;
  }

  /**
   * A policy as Migrate would resolve it (INVALID_ARGUMENT, or
   * FAILED_PRECONDITION for what this host lacks): for callers that start
   * migrations later with it (a maintenance's drain).
   */
  async resolvePolicy(policy: MigrateRequest['policy']): Promise<MigrationPolicy> {
    const defaults = this.deps.policyDefaults?.() ?? BUILTIN_DEFAULTS;
    return resolvePolicy(policy, defaults, await this.hostFeatures());
  }

  /** The request's policy against the host's defaults and what its libvirt/QEMU support. */
  private async resolve(request: Omit<MigrateRequest, 'requestId' | 'trace'>): Promise<MigrateCommand> {
    const defaults = this.deps.policyDefaults?.() ?? BUILTIN_DEFAULTS;
    return { ...request, policy: resolvePolicy(request.policy, defaults, await this.hostFeatures()) };
  }

  /** Until libvirt answers (or if it cannot tell) the oldest supported stack is assumed, and asked again next time. */
  private hostFeatures(): Promise<HostFeatures> {
    if (!this.features) {
      this.features = this.deps.hypervisor.features().catch(() => {
        this.features = undefined;
        return BASELINE_FEATURES;
      });
    }
    return this.features;
  }

  /** Restore: a VM saved by a FILE migration, from its saved state and definition (a retry answered once, restores.ts). */
  restoreSaved(request: RestoreRequest): Promise<RestoredVm> {
    return this.restores.restore(request);
  }

  /** Resolves with the VM as libvirt describes it now (the first attempt needs no second look). */
  private async checkHost(command: MigrateCommand): Promise<VmInfo> {
    const { hypervisor, network } = this.deps;
    const vm = await hypervisor.describeVm(command.vmId);
    if (vm.state !== 'running' && vm.state !== 'paused') {
      throw new FerryError('FAILED_PRECONDITION', `VM ${command.vmId} (${vm.name}) is ${vm.state}, not running: start it first`, {
        field: 'vm_id',
        reason: 'VM_NOT_RUNNING',
        subject: `vm/${command.vmId}`,
      });
    }
    const active = this.registry.activeFor(command.vmId);
    if (active) {
      throw new FerryError('ALREADY_EXISTS', `VM ${command.vmId} already has migration job ${active.id} (${active.phase})`, {
        field: 'vm_id',
        reason: 'ALREADY_MIGRATING',
        subject: `job/${active.id}`,
      });
    }
    if (command.mode === 'file') await checkHibernationTargets(command, this.deps.hibernationFiles);
    else await network.resolve(splitHostPort(command.dst, 0).host);
    return vm;
  }

  /**
   * After a restart: takes back the jobs a previous run journaled. Finished
   * ones answer status calls for the rest of their retention; unfinished ones
   * are followed to their end (recovery.ts), each holding an outgoing slot,
   * or queued again when they had not started.
   * Returns the number of jobs still being followed.
   */
  recover(records: readonly JournaledJob[]): number {
    const horizon = this.deps.clock.now() - this.deps.retentionMs;
    let following = 0;
    for (const { status, command: journaled, nicBaseline, request } of records) {
      if (status.finishedAt !== undefined && status.finishedAt < horizon) continue;
      const command = withNewerDefaults(journaled, this.deps.policyDefaults?.() ?? BUILTIN_DEFAULTS);
      if (this.registry.has(status.jobId)) continue;
      // The request id comes back with its job: a retry after the restart finds it (registry.add indexes it).
      const job = MigrationJob.restore(status, command, nicBaseline, () => this.deps.clock.now(), request);
      // The trace of the run that started it ended with that run: what is left is followed in a trace of its own.
      if (!job.finished) {
        job.span = this.tracer.startSpan('migration (followed after a restart)', {
          attributes: { 'ferry.job_id': job.id, 'ferry.vm_id': command.vmId },
        });
      }
      this.register(job, true);
      if (job.finished) continue;
      following++;
      const release = this.slots.claim();
      const requeue = (queued: MigrationJob) => {
        release(); // it waits for a slot like any queued job
        void runAdmitted(queued, this.admissionDeps());
      };
      void recoverJob(job, this.jobDeps(), requeue).finally(release);
    }
    return following;
  }

  /** Graceful shutdown: Migrate refuses from now on; running jobs are left to libvirt and the next start. */
  stopAccepting(): void {
    this.closing = true;
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

/** A job journaled by an older agent lacks the policy fields added since: the host's defaults fill them. */
function withNewerDefaults(command: MigrateCommand, defaults: MigrationPolicy): MigrateCommand {
  const policy: Partial<MigrationPolicy> = command.policy;
  return {
    ...command,
    policy: { ...command.policy, postcopyRecoveryTimeoutS: policy.postcopyRecoveryTimeoutS ?? defaults.postcopyRecoveryTimeoutS },
  };
}
