/**
 * What a finished job counts as: its result and, for a failure, one reason
 * from a short fixed list, so that outcome series stay few whatever the
 * error messages say. The convergence trail tells Ferry's own aborts apart
 * (completion and stall timeouts, the schedule); otherwise the error's kind.
 */
import type { ConvergenceRecord, MigrationStatus } from '../../migration/index.js';

export type OutcomeResult = 'completed' | 'failed' | 'cancelled';

export interface Outcome {
  result: OutcomeResult;
  /** "none" for a completed job; a snake_case word otherwise. */
  reason: string;
  /** The step that failed ("none" for a completed job): queue, prepare, perform, converge, cancel, recover… */
  step: string;
}

/** Where a convergence action came from, from its record's reason (convergence/steering.ts, job-control.ts). */
export type ActionTrigger = 'completion_timeout' | 'stall_timeout' | 'schedule' | 'operator';

export function triggerOf(record: ConvergenceRecord): ActionTrigger {
  if (record.reason.startsWith('completion timeout')) return 'completion_timeout';
  if (record.reason.startsWith('stall timeout')) return 'stall_timeout';
  if (record.reason.startsWith('schedule')) return 'schedule';
  return 'operator';
}

export function outcomeOf(status: MigrationStatus): Outcome | undefined {
  switch (status.phase) {
    case 'completed':
      return { result: 'completed', reason: 'none', step: 'none' };
    case 'cancelled':
      return { result: 'cancelled', reason: 'cancelled', step: stepOf(status) };
    case 'failed':
      return { result: 'failed', reason: failureReason(status), step: stepOf(status) };
    default:
      return undefined;
  }
}

function failureReason(status: MigrationStatus): string {
  const abort = [...status.convergence].reverse().find((r) => r.action === 'abort');
  if (abort && status.error?.step === 'converge') {
    const trigger = triggerOf(abort);
    return trigger === 'schedule' || trigger === 'operator' ? 'schedule_abort' : trigger;
  }
  return (status.error?.kind ?? 'unknown').toLowerCase();
}

/** The job's failed step, kept to a word (steps are the core's fixed names). */
function stepOf(status: MigrationStatus): string {
  const step = status.error?.step ?? 'unknown';
  return /^[a-z_-]{1,32}$/.test(step) ? step : 'other';
}
