/**
 * Carries out what the convergence tracker decides, on the running job:
 * raise the downtime, switch to post-copy, pause the guest, or abort; and
 * records each action on the job (its convergence trail) so an engine can
 * see why a migration ended the way it did. The monitor calls onSample
 * after every poll and awaits it, so actions never overlap.
 */
import { FerryError, errorMessage } from '../../../shared/errors.js';
import type { ConvergenceTracker, Decision } from './convergence.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import type { Clock, Hypervisor } from '../ports.js';
import type { DueStep } from '../policy/schedule.js';
import type { ConvergenceAction, JobStats } from '../types.js';

export interface SteeringDeps {
  hypervisor: Hypervisor;
  clock: Clock;
}

export class Steering {
  /** Set when Ferry aborted the job (timeout or schedule): the error to report instead of libvirt's "aborted". */
  abortCause: FerryError | undefined;
  /** The schedule paused the guest: a failed migration must resume it on the source. */
  suspended = false;
  private abortPending = false;
  private readonly startedAt: number;

  constructor(
    private readonly job: MigrationJob,
    private readonly tracker: ConvergenceTracker,
    private readonly deps: SteeringDeps,
  ) {
    this.startedAt = deps.clock.now();
    job.update({ completionTimeoutMs: tracker.completionMs });
  }

  /** For the monitor: one sample (undefined when none could be read). */
  readonly onSample = async (stats: JobStats | undefined): Promise<void> => {
    if (this.job.finished) return;
    if (this.abortPending) return this.abort();
    const status = this.job.snapshot();
    const decision = this.tracker.observe({
      elapsedMs: this.elapsed(),
      iteration: Math.max(status.iteration, stats?.iteration ?? 0),
      remaining: stats?.data.remaining ?? 0,
      total: stats?.data.total ?? 0,
      postcopy: this.job.phase === 'postcopy',
    });
    if (decision) await this.take(decision);
  };

  /** Each action is a span of the job's trace: what the schedule or a timeout did, and when. */
  private async take(decision: Decision): Promise<void> {
    const action = decision.kind === 'timeout' ? 'abort' : decision.due.step.action;
    const reason = decision.kind === 'timeout' ? `${decision.timeout} timeout` : decision.due.reason;
    const span = this.job.span.child(`convergence ${action}`, {
      attributes: {
        'ferry.convergence.action': action,
        'ferry.convergence.reason': reason,
        'ferry.iteration': this.job.snapshot().iteration,
      },
    });
    try {
      await this.act(decision, (err) => span.recordError(err));
    } finally {
      span.end();
    }
  }

  private async act(decision: Decision, failed: (err: unknown) => void): Promise<void> {
    if (decision.kind === 'timeout') {
      this.abortCause = decision.error;
      this.note('abort', `${decision.timeout} timeout`);
      return this.abort(failed);
    }
    const { due } = decision;
    const { vmId } = this.job.command;
    try {
      switch (due.step.action) {
        case 'set-downtime': {
          // A step never lowers a downtime raised by ChangeMigrationParams.
          const current = this.job.snapshot().maxDowntimeMs;
          const ms = Math.max(due.step.downtimeMs ?? 0, current);
          await this.deps.hypervisor.setMaxDowntime(vmId, ms);
          if (!due.repeat || ms !== current) this.note('set-downtime', due.reason, ms);
          return;
        }
        case 'post-copy':
          if (this.job.phase !== 'migrating') return;
          await this.deps.hypervisor.startPostCopy(vmId);
          this.job.setPhase('postcopy');
          this.note('post-copy', due.reason);
          return;
        case 'suspend':
          if (this.suspended) return;
          await this.deps.hypervisor.suspend(vmId);
          this.suspended = true;
          this.note('suspend', due.reason);
          return;
        case 'abort':
          this.abortCause = new FerryError(
            'ABORTED',
            `the convergence schedule aborted the migration (${due.reason}): the guest did not converge within the downtime the policy allows`,
          );
          this.note('abort', due.reason);
          return this.abort(failed);
      }
    } catch (err) {
      failed(err);
      this.job.warn(
        `${actionName(due)} failed: ${errorMessage(err)}${due.index === this.job.command.policy.schedule.length - 1 ? ' (it is retried at the next repeat)' : ''}`,
      );
    }
  }

  /** Aborts the libvirt job; retried on the next sample if libvirt does not answer. */
  private async abort(failed: (err: unknown) => void = () => {}): Promise<void> {
    this.abortPending = true;
    try {
      await this.deps.hypervisor.abortJob(this.job.command.vmId, { postcopy: false });
      this.abortPending = false;
    } catch (err) {
      failed(err);
      this.job.warn(`aborting the migration failed, retrying: ${errorMessage(err)}`);
    }
  }

  private note(action: ConvergenceAction, reason: string, downtimeMs?: number): void {
    this.job.record({
      action,
      iteration: this.job.snapshot().iteration,
      elapsedMs: this.elapsed(),
      reason,
      ...(downtimeMs !== undefined ? { downtimeMs } : {}),
    });
  }

  private elapsed(): number {
    return this.deps.clock.now() - this.startedAt;
  }
}

function actionName(due: DueStep): string {
  return `${due.reason}: ${due.step.action}`;
}
