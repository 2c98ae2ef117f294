/**
 * What a running migration should do next, decided from its samples alone
 * (pure: no libvirt, no clock of its own). Three things are watched, in this
 * order of precedence on each sample:
 *   completion timeout  the copy has run longer than completion_timeout_per_gib
 *                       × GiB of memory and copied disks (Nova and KubeVirt
 *                       scale it the same way);
 *   stall timeout       no progress for stall_timeout (a dead link, or a
 *                       guest that dirties memory as fast as the link copies
 *                       it; see ProgressWatch for what counts as progress);
 *   the schedule        the next step whose trigger is met (schedule.ts).
 * Nothing fires in post-copy: the guest already runs on the destination and
 * aborting would lose it. A timeout decision is final: after it the tracker
 * stays silent while the job is being aborted.
 */
import { FerryError } from '../../../shared/errors.js';
import { ScheduleCursor, type DueStep } from '../policy/schedule.js';
import type { MigrationPolicy } from '../types.js';

const GIB = 1024 ** 3;
/** A smaller guest still gets the time of one GiB: libvirt's fixed overhead dominates small guests. */
const MIN_GIB = 1;
/** Data remaining must fall this far below a low-water mark to count as progress (KubeVirt's stall margin). */
export const STALL_MARGIN = 0.04;

/** The completion timeout of one job in ms (0 = none). */
export function completionTimeoutMs(perGibS: number, memoryBytes: number, copiedDiskBytes: number): number {
  if (perGibS <= 0) return 0;
  const gib = Math.max(MIN_GIB, (memoryBytes + copiedDiskBytes) / GIB);
  return Math.round(perGibS * gib * 1000);
}

export interface Sample {
  /** Since the memory copy started. */
  elapsedMs: number;
  iteration: number;
  /** Data (memory + disk) still to copy, and in all; total 0 = libvirt has no counters yet. */
  remaining: number;
  total: number;
  postcopy: boolean;
}

export type Decision = { kind: 'step'; due: DueStep } | { kind: 'timeout'; timeout: 'completion' | 'stall'; error: FerryError };

export class ConvergenceTracker {
  private readonly cursor: ScheduleCursor;
  private readonly stallMs: number;
  private readonly progress = new ProgressWatch();
  private timedOut = false;

  constructor(
    private readonly policy: MigrationPolicy,
    /** From completionTimeoutMs(); 0 = none. */
    readonly completionMs: number,
  ) {
    this.cursor = new ScheduleCursor(policy.schedule);
    this.stallMs = policy.stallTimeoutS * 1000;
  }

  observe(sample: Sample): Decision | undefined {
    if (this.timedOut || sample.postcopy) return undefined;
    this.progress.observe(sample);
    if (this.completionMs > 0 && sample.elapsedMs >= this.completionMs) {
      this.timedOut = true;
      const gib = this.completionMs / 1000 / this.policy.completionTimeoutSPerGib;
      return {
        kind: 'timeout',
        timeout: 'completion',
        error: new FerryError(
          'DEADLINE_EXCEEDED',
          `not completed within the completion timeout of ${Math.round(this.completionMs / 1000)} s (${this.policy.completionTimeoutSPerGib} s/GiB × ${gib.toFixed(2)} GiB): ` +
            'the migration was aborted; allow post_copy, give a schedule that raises the downtime or suspends, or raise max_bandwidth_mibps',
        ),
      };
    }
    const stalledMs = sample.elapsedMs - this.progress.lastAtMs;
    if (this.stallMs > 0 && stalledMs >= this.stallMs) {
      this.timedOut = true;
      return {
        kind: 'timeout',
        timeout: 'stall',
        error: new FerryError(
          'DEADLINE_EXCEEDED',
          `no progress for ${Math.round(stalledMs / 1000)} s (data remaining reached no new low: neither a smaller set of dirty memory at a pass nor progress within one; stall_timeout ${this.policy.stallTimeoutS} s): the migration was aborted`,
        ),
      };
    }
    const due = this.cursor.due(sample);
    return due ? { kind: 'step', due } : undefined;
  }
}

/**
 * When the copy last got closer to done. Data remaining falls steadily within
 * every pass and jumps back up when the next pass starts with what the guest
 * dirtied meanwhile, so neither "it fell" nor its all-time low means progress
 * (the low of each pass is near zero, hit or missed by a poll at random).
 * Progress is:
 *  - a pass that starts with less to copy than any pass before (by the
 *    margin): the dirty memory shrinks, the migration converges; and
 *  - within such a pass (the first, bulk pass included), data remaining
 *    falling below its low so far: a long pass over a slow link is progress.
 * A guest that dirties as fast as the link copies starts every pass with
 * about the same amount: no progress. A dead link freezes data remaining: no
 * progress either.
 */
export class ProgressWatch {
  /** When progress was last seen (sample time); starts when counters appear. */
  lastAtMs = 0;
  private iteration = 0;
  private bestStart = Number.POSITIVE_INFINITY;
  /** The current pass started from a new best: its own decrease counts. */
  private productive = false;
  private passLow = Number.POSITIVE_INFINITY;
  private started = false;

  observe(sample: Sample): void {
    if (sample.total <= 0) {
      if (!this.started) this.lastAtMs = sample.elapsedMs;
      return;
    }
    this.started = true;
    if (sample.iteration !== this.iteration) {
      // The first sample of a pass is the nearest a poll gets to its start.
      this.iteration = sample.iteration;
      this.productive = sample.remaining < this.bestStart * (1 - STALL_MARGIN);
      this.bestStart = Math.min(this.bestStart, sample.remaining);
      this.passLow = sample.remaining;
      if (this.productive) this.lastAtMs = sample.elapsedMs;
      return;
    }
    if (this.productive && sample.remaining < this.passLow * (1 - STALL_MARGIN)) {
      this.passLow = sample.remaining;
      this.lastAtMs = sample.elapsedMs;
    }
  }
}
