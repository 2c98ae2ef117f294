/**
 * Getting a job started: one of this host's outgoing slots, then a
 * destination with room for it. Over the outgoing limit the job waits in
 * QUEUED (FIFO). A destination at its incoming limit answers
 * RESOURCE_EXHAUSTED; the job then gives its slot back, waits in QUEUED with
 * the reason in its status, and asks again after a backoff (backoff.ts). Both
 * waits together are bounded by the policy's queue_timeout, counted from
 * acceptance; a cancel ends either wait at once.
 *
 * Why give the slot back: a job waiting for a busy destination uses nothing
 * here, and holding the slot would stall migrations to other destinations
 * behind it (vdsm releases its semaphore the same way before retrying).
 */
import { type FerryError, isFerryError } from '../../../shared/errors.js';
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { failureOf } from '../jobs/failure.js';
import { runHibernation } from './hibernation.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import { performOutgoing, vmStateOf, type OutgoingDeps, type PreparedMigration } from './live-migration.js';
import { prepareOutgoing } from './prepare-outgoing.js';
import { coldDeps, prepareCold, type ColdDeps } from './prepare-cold.js';
import { performCold } from './cold-migration.js';
import type { OutgoingFacts } from './migration-check.js';
import { STILL_RUNNING } from '../types.js';
import type { SlotQueue } from './slot-queue.js';

export interface AdmissionDeps extends OutgoingDeps {
  slots: SlotQueue;
  backoff?: BackoffOptions;
  random?: () => number;
}

/**
 * A destination's "come back later": its incoming limit, or no free port in
 * its range. Not a filesystem without room for a cold migration's volumes
 * (LIMIT_REACHED): waiting does not make room.
 */
export function isBusy(err: unknown): err is FerryError {
  return isFerryError(err, 'RESOURCE_EXHAUSTED') && err.details.reason !== 'LIMIT_REACHED';
}

/** The waiting reason shown in a QUEUED job's status after a busy answer. */
export function busyWaiting(job: MigrationJob, err: FerryError, attempt: number, delayMs: number): string {
  return `destination ${job.command.dst} is busy (${err.message}); attempt ${attempt + 1} in ${(delayMs / 1000).toFixed(1)} s`;
}

/** What one attempt to start a job came to, its slot held: ready to run, or a destination that is busy. */
export type StartAttempt = { kind: 'ready'; run: () => Promise<void> } | { kind: 'busy'; error: FerryError };

/**
 * One attempt to start a job whose slot is held: a FILE job is ready at
 * once; a REMOTE one once its destination prepared. A busy destination is
 * an outcome, not an error; any other failure to prepare throws.
 */
export async function attemptStart(job: MigrationJob, deps: AdmissionDeps, known?: OutgoingFacts): Promise<StartAttempt> {
  if (job.command.mode === 'file') return { kind: 'ready', run: () => runHibernation(job, deps) };
  if (job.command.mode === 'cold') return attemptCold(job, coldDeps(deps));
  let prepared: PreparedMigration;
  try {
    prepared = await prepareOutgoing(job, deps, known);
  } catch (err) {
    if (isBusy(err)) return { kind: 'busy', error: err };
    throw err;
  }
  return { kind: 'ready', run: () => performOutgoing(job, prepared, deps) };
}

async function attemptCold(job: MigrationJob, deps: ColdDeps): Promise<StartAttempt> {
  try {
    const prepared = await prepareCold(job, deps);
    return { kind: 'ready', run: () => performCold(job, prepared, deps) };
  } catch (err) {
    if (isBusy(err)) return { kind: 'busy', error: err };
    throw err;
  }
}

/**
 * The one path from QUEUED (or a first attempt) to a job's end, in the
 * background: a slot, an attempt to start, the busy-destination retry, the
 * run. `first` is an attempt Migrate already made with a slot it holds (so
 * that its errors were the caller's); a busy first answer is turned into
 * QUEUED before this function first awaits, so Migrate's answer shows it.
 * Never throws: every outcome ends in the job's status.
 */
export async function runAdmitted(
  job: MigrationJob,
  deps: AdmissionDeps,
  first?: { attempt: StartAttempt; release: () => void },
): Promise<void> {
  const { clock } = deps;
  const signal = job.cancellation.signal;
  const deadline = job.snapshot().startedAt + job.command.policy.queueTimeoutS * 1000;
  let attempts = 0;
  let lastBusy: FerryError | undefined;
  let held = first;
  for (;;) {
    if (!held) {
      if (signal.aborted) return; // cancel() has ended the job
      if (clock.now() >= deadline) return failQueue(job, lastBusy);
      if (!lastBusy) job.update({ waiting: "for one of this host's outgoing slots (limits.max_outgoing)" });
      const release = await acquireBefore(deps.slots, signal, deadline, deps);
      if (!release) {
        if (!signal.aborted) failQueue(job, lastBusy);
        return;
      }
      try {
        held = { attempt: await attemptStart(job, deps), release };
      } catch (err) {
        release();
        job.fail(failureOf('prepare', err, await vmStateOf(job, deps.hypervisor)));
        return;
      }
    }
    const { attempt, release } = held;
    held = undefined;
    if (attempt.kind === 'ready') {
      try {
        return await attempt.run();
      } finally {
        release();
      }
    }
    release();
    attempts++;
    lastBusy = attempt.error;
    // Busy to the last: that is the queue timeout, not a failed prepare.
    if (signal.aborted) return;
    if (clock.now() >= deadline) return failQueue(job, lastBusy);
    const delay = Math.min(delayFor(attempts, deps), deadline - clock.now());
    job.requeue(busyWaiting(job, attempt.error, attempts, delay));
    await clock.sleep(delay, signal);
  }
}

function delayFor(attempt: number, deps: AdmissionDeps): number {
  return backoffDelayMs(attempt, deps.backoff ?? DEFAULT_BACKOFF, deps.random);
}

/** A slot, or undefined when the job was cancelled or the deadline passed first. */
async function acquireBefore(
  slots: SlotQueue,
  signal: AbortSignal,
  deadline: number,
  deps: AdmissionDeps,
): Promise<(() => void) | undefined> {
  const giveUp = new AbortController();
  const stopTimer = new AbortController();
  const onCancel = () => giveUp.abort();
  signal.addEventListener('abort', onCancel, { once: true });
  // Checked against clock.now() rather than trusting one long sleep, so a
  // test clock whose sleeps end early cannot end the wait early.
  void (async () => {
    while (!stopTimer.signal.aborted) {
      const left = deadline - deps.clock.now();
      if (left <= 0) return giveUp.abort();
      await deps.clock.sleep(Math.min(left, 1000), stopTimer.signal);
    }
  })();
  try {
    return await slots.acquire(giveUp.signal);
  } finally {
    stopTimer.abort();
    signal.removeEventListener('abort', onCancel);
  }
}

function failQueue(job: MigrationJob, lastBusy: FerryError | undefined): void {
  const { queueTimeoutS } = job.command.policy;
  const message = lastBusy
    ? `destination ${job.command.dst} stayed busy for queue_timeout ${queueTimeoutS} s (${lastBusy.message}): raise its limits.max_incoming, or retry later`
    : `no outgoing slot became free within queue_timeout ${queueTimeoutS} s: raise limits.max_outgoing or queue_timeout, or retry later`;
  job.fail({ step: 'queue', kind: 'RESOURCE_EXHAUSTED', message, vmState: STILL_RUNNING });
}
