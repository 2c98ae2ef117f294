/**
 * A job's span outlives the Migrate call that started it: it ends when the
 * job reaches its final phase (COMPLETED, FAILED, CANCELLED), with the phase
 * and, for a failure, the step and error the job ended with.
 */
import { FerryError } from '../../../shared/errors.js';
import type { MigrationJob } from './migration-job.js';

export function endSpanWithJob(job: MigrationJob): void {
  const settle = () => {
    if (!job.finished) return false;
    const status = job.snapshot();
    const { span } = job;
    span.setAttribute('ferry.migration.phase', status.phase.toUpperCase());
    if (status.error) {
      span.setAttribute('ferry.migration.failed_step', status.error.step);
      span.recordError(new FerryError(status.error.kind, status.error.message));
    }
    span.end();
    return true;
  };
  if (settle()) return;
  const unsubscribe = job.subscribe(() => {
    if (settle()) unsubscribe();
  });
}
