/**
 * Control of a running outgoing job: cancel it, change its bandwidth or
 * downtime, switch it to post-copy. Intake (starting jobs) is
 * outgoing-migrations.ts; this only acts on jobs that exist.
 */
import { FerryError } from '../../../shared/errors.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import type { Clock, Hypervisor } from '../ports.js';
import { inSpan } from '../tracing.js';
import { STILL_RUNNING } from '../types.js';

export interface ControlDeps {
  hypervisor: Hypervisor;
  clock: Clock;
  /**
   * How long CancelMigration waits for the job to end once libvirt took the
   * abort (a QEMU that does not answer may never end it): then it says so.
   */
  abortWaitMs: number;
}

export interface ParamsChange {
  maxBandwidthMibps?: number;
  maxDowntimeMs?: number;
  startPostCopy: boolean;
}

/** Resolves once the job has ended CANCELLED (or otherwise); DEADLINE_EXCEEDED when it does not end after its abort. */
export async function cancelJob(job: MigrationJob, deps: ControlDeps): Promise<void> {
  if (job.finished) {
    throw new FerryError('FAILED_PRECONDITION', `job ${job.id} already ended ${job.phase}: nothing to cancel`, {
      reason: 'JOB_FINISHED',
      subject: `job/${job.id}`,
    });
  }
  // A span of the job's trace: the cancel, from the call to the job's end (or the refusal).
  const span = job.span.child('cancel', { attributes: { 'ferry.migration.phase': job.phase.toUpperCase() } });
  return inSpan(span, () => cancelUnfinished(job, deps));
}

async function cancelUnfinished(job: MigrationJob, deps: ControlDeps): Promise<void> {
  if (job.phase === 'postcopy') {
    throw new FerryError(
      'FAILED_PRECONDITION',
      `job ${job.id} is in post-copy: the VM already runs on the destination and cannot be cancelled`,
      { reason: 'JOB_PHASE_MISMATCH', subject: `job/${job.id}` },
    );
  }
  if (job.phase === 'postcopy-paused' || job.phase === 'recovering') {
    throw new FerryError(
      'FAILED_PRECONDITION',
      `job ${job.id} is ${job.phase} in post-copy: the VM runs on the destination and needs the memory still here, so it cannot be cancelled; resume it with RecoverMigration (ferryctl recover)`,
      { reason: 'JOB_PHASE_MISMATCH', subject: `job/${job.id}` },
    );
  }
  const coldStep = job.snapshot().coldCopy?.step;
  if (coldStep && coldStep !== 'transfer') {
    throw new FerryError(
      'FAILED_PRECONDITION',
      `job ${job.id} has copied every volume and is at step ${coldStep}: the VM is moving to the destination now and the job ends in a moment`,
      { reason: 'JOB_PHASE_MISMATCH', subject: `job/${job.id}` },
    );
  }
  job.cancellation.abort();
  if (job.phase === 'queued') {
    job.fail({ step: 'queue', kind: 'CANCELLED', message: 'cancelled while queued', vmState: STILL_RUNNING });
  } else if (job.phase === 'migrating' && job.command.mode !== 'cold') {
    // A cold migration's transfer is Ferry's own: the signal stops it, libvirt has no job.
    await abortOnceStarted(job, deps);
  }
  // The runner notices the abort (perform rejects, or the check after
  // prepare) and ends the job CANCELLED once the VM is safe on the source.
  // Bounded: a libvirt that took the abort but never ends its job is reported.
  if (!(await endOf(job, deps.abortWaitMs, deps.clock))) {
    const message = `the migration did not end within ${deps.abortWaitMs / 1000} s of its abort; it may still be running (follow it with WatchMigration)`;
    job.warn(message);
    throw new FerryError('DEADLINE_EXCEEDED', message, { reason: 'ABORT_TIMEOUT', subject: `job/${job.id}` });
  }
}

/** Whether the job ended within ms: the only wait the core bounds itself (each call is bounded by its adapter). */
async function endOf(job: MigrationJob, ms: number, clock: Clock): Promise<boolean> {
  let unsubscribe = () => {};
  const ended = new Promise<void>((resolve) => {
    unsubscribe = job.subscribe(() => job.finished && resolve());
  });
  const timer = new AbortController();
  // Checked against clock.now(), so a clock whose sleeps end early cannot end the wait early.
  const giveUpAt = clock.now() + ms;
  try {
    while (!job.finished && clock.now() < giveUpAt) {
      await Promise.race([ended, clock.sleep(giveUpAt - clock.now(), timer.signal)]);
    }
    return job.finished;
  } finally {
    timer.abort();
    unsubscribe();
  }
}

/**
 * The job is MIGRATING from the moment the perform call is sent, but
 * libvirt has a job to abort only once its daemon started it: a cancel in
 * between is told "no job is active" and is tried again for a few seconds.
 */
async function abortOnceStarted(job: MigrationJob, deps: ControlDeps): Promise<void> {
  const { hypervisor, clock } = deps;
  const giveUpAt = clock.now() + 10_000;
  for (;;) {
    try {
      return await hypervisor.abortJob(job.command.vmId, { postcopy: false });
    } catch (err) {
      // KubeVirt's lesson: an abort can hang in libvirt (a QEMU that does not answer). Say so; never wait forever.
      if (err instanceof FerryError && err.kind === 'DEADLINE_EXCEEDED') {
        const message = `the abort was not answered (${err.message}); the migration may still be running`;
        job.warn(message);
        throw new FerryError('DEADLINE_EXCEEDED', message, { reason: 'ABORT_TIMEOUT', subject: `job/${job.id}` }, { cause: err });
      }
      const notYet = err instanceof FerryError && err.kind === 'FAILED_PRECONDITION';
      if (!notYet || job.finished || job.phase !== 'migrating' || clock.now() >= giveUpAt) throw err;
      await clock.sleep(200);
    }
  }
}

export async function changeJobParams(job: MigrationJob, change: ParamsChange, deps: ControlDeps): Promise<void> {
  if (job.command.mode === 'cold') return changeColdParams(job, change);
  if (job.phase !== 'migrating' && job.phase !== 'postcopy') {
    throw new FerryError('FAILED_PRECONDITION', `job ${job.id} is ${job.phase}: parameters change only while it is migrating`, {
      reason: job.finished ? 'JOB_FINISHED' : 'JOB_PHASE_MISMATCH',
      subject: `job/${job.id}`,
    });
  }
  const { hypervisor, clock } = deps;
  const vmId = job.command.vmId;
  if (change.startPostCopy && !job.command.policy.postCopy) {
    throw new FerryError(
      'FAILED_PRECONDITION',
      `job ${job.id} was started without post_copy in its policy: post-copy cannot be switched on later`,
      { field: 'start_post_copy', reason: 'POST_COPY_NOT_ENABLED', subject: `job/${job.id}` },
    );
  }
  const at = () => ({
    iteration: job.snapshot().iteration,
    elapsedMs: clock.now() - job.snapshot().startedAt,
    reason: 'ChangeMigrationParams',
  });
  if (change.maxBandwidthMibps !== undefined) {
    // In post-copy QEMU uses a separate cap (max-postcopy-bandwidth).
    const postcopy = job.phase === 'postcopy';
    await hypervisor.setMaxSpeed(vmId, change.maxBandwidthMibps, { postcopy });
    job.noteMaxBandwidth(change.maxBandwidthMibps);
  }
  if (change.maxDowntimeMs !== undefined) {
    await hypervisor.setMaxDowntime(vmId, change.maxDowntimeMs);
    job.record({ action: 'set-downtime', downtimeMs: change.maxDowntimeMs, ...at() });
  }
  if (change.startPostCopy && job.phase === 'migrating') {
    await inSpan(job.span.child('convergence post-copy', { attributes: { 'ferry.convergence.reason': 'ChangeMigrationParams' } }), () =>
      hypervisor.startPostCopy(vmId),
    );
    job.setPhase('postcopy');
    job.record({ action: 'post-copy', ...at() });
  }
}

/** A cold job has a bandwidth cap on its data channel and nothing else to change; it holds from the next piece of data sent. */
function changeColdParams(job: MigrationJob, change: ParamsChange): void {
  if (change.maxDowntimeMs !== undefined || change.startPostCopy) {
    const field = change.maxDowntimeMs !== undefined ? 'max_downtime' : 'start_post_copy';
    throw new FerryError(
      'FAILED_PRECONDITION',
      `job ${job.id} is a cold migration: a shut-off VM has no downtime or post-copy; only max_bandwidth_mibps changes`,
      { field, reason: 'JOB_PHASE_MISMATCH', subject: `job/${job.id}` },
    );
  }
  const step = job.snapshot().coldCopy?.step;
  if (job.finished || (step !== undefined && step !== 'transfer')) {
    throw new FerryError(
      'FAILED_PRECONDITION',
      job.finished
        ? `job ${job.id} already ended ${job.phase}: nothing to change`
        : `job ${job.id} has copied every volume and is at step ${step}: there is no data left to cap`,
      { reason: job.finished ? 'JOB_FINISHED' : 'JOB_PHASE_MISMATCH', subject: `job/${job.id}` },
    );
  }
  if (change.maxBandwidthMibps !== undefined) job.noteMaxBandwidth(change.maxBandwidthMibps);
}
