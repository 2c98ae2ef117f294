/**
 * A post-copy that broke, resumed. Once the guest runs on the destination and
 * pulls its remaining memory from the source, a broken migration connection
 * no longer means a failed migration: libvirt (>= 8.5) pauses the source
 * (VIR_DOMAIN_PAUSED_POSTCOPY_FAILED), leaves the destination running on what
 * it has (VIR_DOMAIN_RUNNING_POSTCOPY_FAILED) and keeps the migration job on
 * both, and the same P2P call with VIR_MIGRATE_POSTCOPY_RESUME continues it
 * on a new connection (qemuMigrationAnyCanResume and
 * qemuMigrationSrcPerformPeer2Peer3 in libvirt's src/qemu/qemu_migration.c;
 * QEMU's https://wiki.qemu.org/Features/PostcopyRecovery).
 *
 * The job goes POSTCOPY_PAUSED. Once the migration link is usable again
 * (carrier, and the route to the destination's listen address leaves on it),
 * checked every second, the destination agent opens a new port behind a new
 * pinhole (PrepareRecovery) and libvirt resumes: RECOVERING, POSTCOPY again,
 * COMPLETED. Failed attempts retry with backoff until the policy's
 * postcopy_recovery_timeout; after it the job waits, paused, for
 * RecoverMigration. Ferry never destroys or resumes either side on its own:
 * the job ends FAILED only when the guest is gone from the destination.
 */
import { errorMessage, FerryError } from '../../../shared/errors.js';
import { failureOf } from '../jobs/failure.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import { inSpan } from '../tracing.js';
import type { PostcopyRecovery } from '../types.js';
import { backoffDelayMs, type BackoffOptions } from './backoff.js';
import { type OutgoingDeps, vmStateOf } from './live-migration.js';
import { attemptResume, GuestLost, listenAddressOf, postcopyBroke, type RecoverRequest, recoveryOf } from './postcopy-attempt.js';

export type { RecoverRequest };

/** How often a paused job looks at its migration link. */
export const LINK_CHECK_MS = 1000;

/** Between failed attempts: soon at first, then at most every 30 s (a link that flaps should not be hammered). */
export const RECOVERY_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ initialMs: 1000, maxMs: 30_000, jitter: 0.2 });

export class PostcopyRecoveries {
  /** Paused jobs waiting for their next attempt: RecoverMigration wakes them. */
  private readonly waiting = new Map<string, (request: RecoverRequest) => void>();
  /** Jobs with a recovery running (one loop per job). */
  private readonly running = new Set<string>();

  constructor(
    private readonly deps: OutgoingDeps,
    private readonly random: () => number = Math.random,
  ) {}

  /** Whether the VM's post-copy broke (postcopy-attempt.ts). */
  broke(job: MigrationJob): Promise<boolean> {
    return postcopyBroke(job, this.deps);
  }

  /**
   * Follows a job whose post-copy broke until it completes, or ends FAILED
   * when the guest is lost. Never throws. `cause`: libvirt's words, or what a
   * restarted agent found.
   */
  async run(job: MigrationJob, cause: string): Promise<void> {
    if (this.running.has(job.id)) return;
    this.running.add(job.id);
    try {
      this.pause(job, cause);
      await this.resumeUntilDone(job);
    } catch (err) {
      await this.fail(job, err);
    } finally {
      this.running.delete(job.id);
      this.waiting.delete(job.id);
    }
  }

  /** RecoverMigration: wake the job's loop for an attempt now. */
  async recoverNow(job: MigrationJob, request: RecoverRequest): Promise<void> {
    if (job.phase !== 'postcopy-paused') {
      throw new FerryError(
        'FAILED_PRECONDITION',
        job.phase === 'recovering'
          ? `job ${job.id} is being resumed already: follow it with WatchMigration`
          : `job ${job.id} is ${job.phase}, not paused in post-copy: there is nothing to recover`,
        { reason: 'POSTCOPY_NOT_PAUSED', subject: `job/${job.id}` },
      );
    }
    const wake = this.waiting.get(job.id);
    if (wake) return wake(request);
    // Paused, but no loop follows it (it cannot be: every paused job has one); start one rather than refuse.
    // run() reaches its first wait (and registers its wake) before it returns.
    void this.run(job, job.snapshot().recovery?.cause ?? 'paused in post-copy');
    this.waiting.get(job.id)?.(request);
  }

  private pause(job: MigrationJob, cause: string): void {
    const now = this.deps.clock.now();
    const previous = job.snapshot().recovery;
    const timeoutMs = job.command.policy.postcopyRecoveryTimeoutS * 1000;
    const recovery: PostcopyRecovery = {
      cause,
      pausedAt: now,
      deadlineAt: now + timeoutMs,
      attempts: 0,
      lastError: '',
      nextAttemptAt: timeoutMs > 0 ? now : 0,
      resumed: previous?.resumed ?? 0,
    };
    if (job.phase === 'migrating') job.setPhase('postcopy');
    if (job.phase !== 'postcopy-paused') job.setPhase('postcopy-paused');
    job.update({ recovery });
    job.warn(
      `the post-copy broke (${cause}): the guest runs on the destination, its remaining memory is paused here; ` +
        (timeoutMs > 0
          ? `resuming once the migration link is back (for up to ${timeoutMs / 1000} s)`
          : 'resume it with RecoverMigration (ferryctl recover)'),
    );
  }

  private async resumeUntilDone(job: MigrationJob): Promise<void> {
    for (;;) {
      const request = await this.nextChance(job);
      const outcome = await inSpan(
        job.span.child('recover', { attributes: { 'ferry.recovery.attempt': recoveryOf(job).attempts + 1 } }),
        () => attemptResume(job, request, this.deps),
      );
      if (outcome === 'completed') return;
      const recovery = recoveryOf(job);
      const delay = backoffDelayMs(recovery.attempts, RECOVERY_BACKOFF, this.random);
      const next = this.deps.clock.now() + delay;
      job.update({ recovery: { ...recovery, nextAttemptAt: next < recovery.deadlineAt ? next : 0 } });
    }
  }

  /** Waits for RecoverMigration, or for the next automatic attempt: backoff passed, before the deadline, link usable. */
  private async nextChance(job: MigrationJob): Promise<RecoverRequest> {
    const { clock } = this.deps;
    const wake = new AbortController();
    let asked: RecoverRequest | undefined;
    this.waiting.set(job.id, (request) => {
      asked = request;
      wake.abort();
    });
    // A link that just came back is given one more check: a resume whose connection fails cannot be retried by QEMU 7.2.
    let usableChecks = 0;
    try {
      for (;;) {
        if (asked) return asked;
        const { nextAttemptAt, deadlineAt } = recoveryOf(job);
        const now = clock.now();
        const due = nextAttemptAt > 0 && now >= nextAttemptAt && now < deadlineAt;
        usableChecks = due && (await this.linkUsable(job)) ? usableChecks + 1 : 0;
        if (usableChecks >= 2) return {};
        if (nextAttemptAt > 0 && now >= deadlineAt) this.giveUpWaiting(job);
        await clock.sleep(LINK_CHECK_MS, wake.signal);
      }
    } finally {
      this.waiting.delete(job.id);
    }
  }

  private giveUpWaiting(job: MigrationJob): void {
    const recovery = recoveryOf(job);
    job.update({ recovery: { ...recovery, nextAttemptAt: 0 } });
    job.warn(
      `the post-copy was not resumed within ${job.command.policy.postcopyRecoveryTimeoutS} s` +
        `${recovery.lastError ? ` (last attempt: ${recovery.lastError})` : ''}: ` +
        'the job stays paused; resume it with RecoverMigration (ferryctl recover), optionally to another migration address',
    );
  }

  /** The carrier of the migration NIC, and the route to the destination's listen address over it. */
  private async linkUsable(job: MigrationJob): Promise<boolean> {
    const { network } = this.deps;
    const listen = listenAddressOf(job);
    const nic = job.nicBaseline?.migrationInterface;
    try {
      const route = await network.routeTo(listen);
      return (await network.linkState(route.interface)).up && (!nic || route.interface === nic);
    } catch {
      return false;
    }
  }

  private async fail(job: MigrationJob, err: unknown): Promise<void> {
    const lost = err instanceof GuestLost;
    const message = lost
      ? `the post-copy cannot be resumed: ${err.message}. The guest's memory was split between the hosts and its ` +
        'destination half is gone, so the VM is lost; the source keeps a paused copy that cannot run on its own. ' +
        'Its disks are intact: destroy the paused copy here and start the VM again from its definition'
      : `the post-copy recovery stopped: ${errorMessage(err)}`;
    const found = await vmStateOf(job, this.deps.hypervisor);
    const state = found.state === 'paused' ? { ...found, reason: 'post-copy failed' } : found;
    const error = lost
      ? new FerryError('FAILED_PRECONDITION', message, { reason: 'POSTCOPY_NOT_RECOVERABLE' })
      : new FerryError('INTERNAL', message);
    job.fail(failureOf('recover', error, state));
  }
}
