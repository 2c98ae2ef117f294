/**
 * The convergence schedule: steps taken while a migration does not converge,
 * checked once when the policy is resolved and evaluated on every sample of
 * the running job.
 *
 * Semantics (the contract's ConvergenceStep):
 *  - steps fire in list order, each when its own trigger is met: after N
 *    complete memory passes (libvirt's memory_iteration > N), or N seconds
 *    after the memory copy started; at most one step per evaluation, so an
 *    overdue list is worked through one sample at a time;
 *  - once the last step has fired, its action is issued again every
 *    `interval` (the distance to the step before it in the same unit, or its
 *    own trigger when it is alone in its unit) until the job ends. Re-issuing
 *    is harmless for every action (the same downtime, a guest already
 *    paused, a job already aborting) and retries one that libvirt refused, so
 *    the schedule never runs out; the completion timeout is the backstop.
 * vdsm's schedule, by contrast, crashes its monitor thread when it runs out:
 * MonitorThread._next_action takes the head of an empty list
 * (https://github.com/oVirt/vdsm/blob/master/lib/vdsm/virt/migration.py).
 */
import { invalidArgument } from '../../../shared/errors.js';
import type { ConvergenceStep, StepTrigger } from '../types.js';

export const MAX_STEPS = 32;
export const MAX_DOWNTIME_MS = 600_000;
const MAX_TRIGGER = { iteration: 100_000, seconds: 7 * 86_400 } as const;

/** Refuses a schedule that would surprise its author; `postCopy` is the policy's. */
export function validateSchedule(steps: readonly ConvergenceStep[], postCopy: boolean): void {
  if (steps.length > MAX_STEPS) throw invalidArgument('policy.schedule', `has ${steps.length} steps; at most ${MAX_STEPS} are allowed`);
  const last: Partial<Record<StepTrigger['kind'], number>> = {};
  steps.forEach((step, i) => {
    const field = `policy.schedule[${i}]`;
    const { kind, after } = step.trigger;
    if (!Number.isInteger(after) || after < 1 || after > MAX_TRIGGER[kind]) {
      throw invalidArgument(
        field,
        kind === 'iteration'
          ? `after_iteration must be from 1 to ${MAX_TRIGGER[kind]}, got ${after}`
          : `after_elapsed must be from 1 s to ${MAX_TRIGGER[kind]} s, got ${after} s`,
      );
    }
    const before = last[kind];
    if (before !== undefined && after < before) {
      throw invalidArgument(
        field,
        `fires ${describeTrigger(step.trigger)}, earlier than the step before it (${describeTrigger({ kind, after: before })}): steps fire in list order, so order them by trigger`,
      );
    }
    last[kind] = after;
    if (step.action === 'set-downtime') {
      const ms = step.downtimeMs;
      if (ms === undefined || !Number.isInteger(ms) || ms < 1 || ms > MAX_DOWNTIME_MS) {
        throw invalidArgument(
          field,
          `SET_DOWNTIME needs a downtime from 1 ms to ${MAX_DOWNTIME_MS} ms, got ${ms === undefined ? 'none' : `${ms} ms`}`,
        );
      }
    } else if (step.downtimeMs !== undefined && step.downtimeMs !== 0) {
      throw invalidArgument(field, `downtime is for SET_DOWNTIME only, not ${step.action}`);
    }
    if (step.action === 'post-copy' && !postCopy) {
      throw invalidArgument(field, 'POST_COPY needs policy.post_copy: true (libvirt must start the migration with post-copy enabled)');
    }
    if ((step.action === 'abort' || step.action === 'post-copy') && i < steps.length - 1) {
      throw invalidArgument(
        field,
        `${step.action} ends pre-copy, so the ${steps.length - 1 - i} step(s) after it would never run: make it the last step`,
      );
    }
  });
}

export function describeTrigger(trigger: StepTrigger): string {
  return trigger.kind === 'iteration' ? `after iteration ${trigger.after}` : `after ${trigger.after} s`;
}

/** Where the copy is, as far as triggers care. */
export interface Progress {
  /** libvirt's memory_iteration: 1 during the first pass. */
  iteration: number;
  /** Since the memory copy started. */
  elapsedMs: number;
}

export interface DueStep {
  step: ConvergenceStep;
  index: number;
  /** The last step issued again after the schedule ran out. */
  repeat: boolean;
  reason: string;
}

/** One job's position in its schedule. */
export class ScheduleCursor {
  private next = 0;
  /** For repeats: the trigger value at which the last step fires again. */
  private repeatAt = 0;

  constructor(private readonly steps: readonly ConvergenceStep[]) {}

  get exhausted(): boolean {
    return this.next >= this.steps.length;
  }

  /** The step to take now, if any (at most one per call). */
  due(progress: Progress): DueStep | undefined {
    if (this.steps.length === 0) return undefined;
    const upcoming = this.steps[this.next];
    if (upcoming) {
      const step = upcoming;
      if (!reached(step.trigger, step.trigger.after, progress)) return undefined;
      const index = this.next++;
      // Repeats count from when the last step really fired (it may have been overdue).
      if (this.exhausted) this.repeatAt = Math.max(step.trigger.after, position(step.trigger, progress)) + repeatInterval(this.steps);
      return { step, index, repeat: false, reason: `schedule step ${index + 1} (${describeTrigger(step.trigger)})` };
    }
    const index = this.steps.length - 1;
    const step = this.steps[index];
    if (!step || !reached(step.trigger, this.repeatAt, progress)) return undefined;
    const at = this.repeatAt;
    // Catch up past any intervals missed while a call was slow, so a late
    // sample issues one repeat, not a burst.
    const interval = repeatInterval(this.steps);
    while (reached(step.trigger, this.repeatAt, progress)) this.repeatAt += interval;
    return {
      step,
      index,
      repeat: true,
      reason: `schedule step ${index + 1} repeated (${describeTrigger({ kind: step.trigger.kind, after: at })})`,
    };
  }
}

/** The distance between the last step and the step before it in the same unit (>= 1). */
export function repeatInterval(steps: readonly ConvergenceStep[]): number {
  const last = steps[steps.length - 1];
  if (!last) return 1;
  const earlier = steps
    .slice(0, -1)
    .reverse()
    .find((s) => s.trigger.kind === last.trigger.kind);
  if (earlier) return Math.max(1, last.trigger.after - earlier.trigger.after);
  return Math.max(1, last.trigger.after);
}

/** Where the copy is in the trigger's unit: passes complete, or whole seconds. */
function position(trigger: StepTrigger, progress: Progress): number {
  return trigger.kind === 'iteration' ? progress.iteration - 1 : Math.floor(progress.elapsedMs / 1000);
}

function reached(trigger: StepTrigger, after: number, progress: Progress): boolean {
  // "after N iterations" = N complete passes: libvirt counts the pass in progress.
  return trigger.kind === 'iteration' ? progress.iteration > after : progress.elapsedMs >= after * 1000;
}
