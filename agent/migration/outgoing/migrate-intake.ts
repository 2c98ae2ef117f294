/**
 * The live intake: Migrate and CheckMigration. It resolves the caller's
 * policy, checks what only the host can check (the VM exists and runs, no
 * other job holds it), runs the checks before a migration, creates the job
 * and hands it to the one start path (admission.ts). Apart from
 * outgoing-migrations.ts, which holds the jobs once they exist (reads,
 * control, the restart intake), because everything here happens before a job
 * exists, while a caller waits.
 */
import { randomUUID } from 'node:crypto';
import { splitHostPort } from '../../../shared/net.js';
import { FerryError, invalidArgument } from '../../../shared/errors.js';
import { type CheckReport, refusalOf } from '../checks/findings.js';
import { type AdmissionDeps, attemptStart, runAdmitted, type StartAttempt } from './admission.js';
import { checkHibernationTargets } from './hibernation.js';
import { coldDeps, notShutOff } from './prepare-cold.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import { MigrationJob } from '../jobs/migration-job.js';
import { identityOf, type RequestIdentity, RequestsInFlight } from '../jobs/request-identity.js';
import type { OutgoingDeps } from './live-migration.js';
import { inSpan, type TraceContext, type Tracer, type TraceSpan, type VmInfo } from '../ports.js';
import { HostPolicy, type HostPolicyDeps } from './host-policy.js';
import type { SlotQueue } from './slot-queue.js';
import { resolvePolicyWithGaps } from '../policy/policy.js';
import { checkOutgoing } from './migration-check.js';
import type { MigrateCommand, MigrateRequest, MigrationPolicy, MigrationStatus } from '../types.js';

/** What the live intake shares with the jobs it hands over (OutgoingMigrations). */
export interface IntakeJobs {
  registry: JobRegistry;
  slots: SlotQueue;
  tracer: Tracer;
  /** Adds the job to the registry, the journal and the transition log. */
  register: (job: MigrationJob) => void;
  admissionDeps: () => AdmissionDeps;
}

export class MigrateIntake {
  /** VMs whose Migrate call is still being answered (closes the check-then-add race). */
  private readonly accepting = new Set<string>();
  /** Set by stopAccepting (graceful shutdown). */
  private closing = false;
  /** What this host's libvirt/QEMU support and its defaults, against which policies resolve. */
  private readonly hostPolicy: HostPolicy;
  /** Migrate calls with a request id that are still being answered. */
  private readonly migrateCalls = new RequestsInFlight<MigrationStatus>();

  constructor(
    private readonly deps: OutgoingDeps & HostPolicyDeps,
    private readonly jobs: IntakeJobs,
  ) {
    this.hostPolicy = new HostPolicy(deps);
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
        const job = this.jobs.registry.forRequest(requestId);
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
    const span = this.jobs.tracer.startSpan('Migrate', {
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
      const release = this.jobs.slots.tryAcquire();
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
            attempt: await attemptStart(job, this.jobs.admissionDeps(), checked?.facts ?? { vm, disks: [], source: undefined }),
            release,
          };
        } catch (err) {
          release();
          job.span.recordError(err);
          job.span.end();
          throw err;
        }
      }
      this.jobs.register(job);
      void runAdmitted(job, this.jobs.admissionDeps(), first);
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
    const span = this.jobs.tracer.startSpan('CheckMigration', {
      kind: 'server',
      parent: trace,
      attributes: { 'ferry.vm_id': request.vmId },
    });
    return inSpan(span, () => this.checkTraced(asSent, span));
  }

  private async checkTraced(asSent: Omit<MigrateRequest, 'requestId' | 'trace'>, span: TraceSpan): Promise<CheckReport> {
    const features = await this.hostPolicy.hostFeatures();
    const defaults = this.hostPolicy.defaults();
    const command: MigrateCommand = { ...asSent, policy: resolvePolicyWithGaps(asSent.policy, defaults, features).policy };
    await this.deps.network.resolve(splitHostPort(command.dst, 0).host);
    const active = this.jobs.registry.activeFor(command.vmId);
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
      { features: await this.hostPolicy.hostFeatures(), described: vm, unreachable: 'throw', span },
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
  resolvePolicy(policy: MigrateRequest['policy']): Promise<MigrationPolicy> {
    return this.hostPolicy.resolve(policy);
  }

  /** The request's policy against the host's defaults and what its libvirt/QEMU support. */
  private async resolve(request: Omit<MigrateRequest, 'requestId' | 'trace'>): Promise<MigrateCommand> {
    return { ...request, policy: await this.hostPolicy.resolve(request.policy) };
  }

  /** Resolves with the VM as libvirt describes it now (the first attempt needs no second look). */
  private async checkHost(command: MigrateCommand): Promise<VmInfo> {
    const { hypervisor, network } = this.deps;
    const vm = await hypervisor.describeVm(command.vmId);
    if (command.mode === 'cold') {
      if (vm.state !== 'shutoff') throw notShutOff(command.vmId, vm.name, vm.state);
      coldDeps(this.deps);
    } else if (vm.state !== 'running' && vm.state !== 'paused') {
      const hint = vm.state === 'shutoff' && command.mode === 'remote' ? ', or move it shut off (mode COLD)' : '';
      throw new FerryError('FAILED_PRECONDITION', `VM ${command.vmId} (${vm.name}) is ${vm.state}, not running: start it first${hint}`, {
        field: 'vm_id',
        reason: 'VM_NOT_RUNNING',
        subject: `vm/${command.vmId}`,
      });
    }
    const active = this.jobs.registry.activeFor(command.vmId);
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

  /** Graceful shutdown: Migrate refuses from now on. */
  stopAccepting(): void {
    this.closing = true;
  }
}
