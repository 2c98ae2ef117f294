/**
 * One resume of a post-copy that broke (postcopy-recovery.ts has the loop
 * around it): the destination asked for a new port and pinhole
 * (PrepareRecovery), libvirt's resume (VIR_MIGRATE_POSTCOPY_RESUME) watched
 * until post-copy runs again and the migration completes, and what the job
 * records when it does not.
 */
import { errorMessage, FerryError, isFerryError } from '../../../shared/errors.js';
import { splitHostPort } from '../../../shared/net.js';
import { startMonitor } from '../convergence/monitor.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import type { IncomingOffer } from '../ports.js';
import { inSpan } from '../tracing.js';
import type { PostcopyRecovery } from '../types.js';
import { finishCompleted, planFor, type OutgoingDeps } from './live-migration.js';

/** What RecoverMigration asks: an attempt now, optionally to another migration address of the destination. */
export interface RecoverRequest {
  dstqemu?: string;
}

/** The guest cannot be resumed (it is gone from the destination): the job ends FAILED with this. */
export class GuestLost extends Error {}

/**
 * Whether the VM's post-copy broke (the perform's error alone does not say
 * it). A job in post-copy waits, bounded, for a restarting libvirtd to
 * answer: libvirt (9.0) keeps a post-copy that broke across its restart.
 */
export async function postcopyBroke(job: MigrationJob, deps: OutgoingDeps): Promise<boolean> {
  if (!job.command.policy.postCopy) return false;
  const { hypervisor, clock, answerWaitMs } = deps;
  const giveUpAt = clock.now() + answerWaitMs;
  // libvirt answers the failed perform a moment before it marks the VM post-copy failed (seen with 9.0).
  const settledBy = clock.now() + STATE_SETTLE_MS;
  for (;;) {
    try {
      const state = await hypervisor.postcopyState(job.command.vmId);
      if (state !== 'active' || clock.now() >= settledBy) return state === 'failed';
      await clock.sleep(100);
    } catch (err) {
      if (job.phase !== 'postcopy' || isFerryError(err, 'NOT_FOUND') || clock.now() >= giveUpAt) return false;
      await clock.sleep(1000);
    }
  }
}

/** How long a resume may take to get the post-copy running before it is paused and tried again. */
export const RESUME_STALL_MS = 30_000;

/** How long a VM still said to be in post-copy after its perform failed is asked again. */
const STATE_SETTLE_MS = 5000;

/**
 * One attempt. 'completed' when the migration completed; 'paused' when it
 * is paused again (the attempt failed, or the link broke again after a
 * resume). Throws GuestLost when the guest cannot be resumed at all.
 */
export async function attemptResume(job: MigrationJob, request: RecoverRequest, deps: OutgoingDeps): Promise<'completed' | 'paused'> {
  const { hypervisor, peers, network, hostName } = deps;
  const { vmId, dst } = job.command;
  const here = await hypervisor.postcopyState(vmId).catch((err: unknown) => (isFerryError(err, 'NOT_FOUND') ? 'gone' : 'unknown'));
  // libvirt may have finished or resumed it meanwhile (a restart lost track of an attempt).
  if (here === 'gone') return completed(job, deps);
  if (here === 'active') return follow(job, deps);
  countAttempt(job);
  job.setPhase('recovering');
  let offer: IncomingOffer;
  try {
    const listen = request.dstqemu || listenAddressOf(job);
    const route = await network.routeTo(listen);
    offer = await inSpan(job.span.child('PrepareRecovery', { kind: 'client', attributes: { 'ferry.destination': dst } }), (call) =>
      peers.prepareRecovery(dst, {
        vmId,
        jobId: job.id,
        sourceHost: hostName,
        sourceMigrationAddress: route.source,
        dstqemu: listen,
        migrationNetwork: job.command.migrationNetwork,
        trace: call.context,
      }),
    );
    job.update({ migrateUri: offer.migrateUri, network: offer.network, sourceMigrationAddress: route.source });
  } catch (err) {
    if (isFerryError(err, 'FAILED_PRECONDITION') && err.reason === 'POSTCOPY_NOT_RECOVERABLE') throw new GuestLost(errorMessage(err));
    return pausedAgain(job, `the destination did not prepare the resume: ${errorMessage(err)}`, deps);
  }
  const startedAt = deps.clock.now();
  let stalled = false;
  const monitor = startMonitor(job, hypervisor, {
    ...deps,
    onSample: async (stats) => {
      if (stats?.postcopy && job.phase === 'recovering') resumed(job, deps);
      // QEMU 7.2 cannot retry a recovery whose connection failed, and libvirt then waits for ever:
      // pausing the post-copy on purpose ends the attempt (VIR_DOMAIN_ABORT_JOB_POSTCOPY), and the next one starts clean.
      if (job.phase === 'recovering' && !stalled && deps.clock.now() - startedAt > RESUME_STALL_MS) {
        stalled = true;
        job.warn(`the resume did not get the post-copy running within ${RESUME_STALL_MS / 1000} s: pausing it to try again`);
        await hypervisor
          .abortJob(vmId, { postcopy: true })
          .catch((e: unknown) => job.warn(`the stalled resume could not be paused: ${errorMessage(e)}`));
      }
    },
  });
  try {
    await hypervisor.resumePostcopy(vmId, planFor(job, { offer, disks: [] }, deps));
  } catch (err) {
    await monitor.stop();
    if (await postcopyBroke(job, deps)) return pausedAgain(job, errorMessage(err), deps);
    if (await goneFromHere(job, deps)) return completed(job, deps);
    return pausedAgain(job, errorMessage(err), deps);
  }
  await monitor.stop();
  return completed(job, deps);
}

/** Post-copy runs again: the bandwidth cap is set again (libvirt does not apply it on resume: https://gitlab.com/libvirt/libvirt/-/issues/333). */
function resumed(job: MigrationJob, deps: OutgoingDeps): void {
  job.setPhase('postcopy');
  const recovery = recoveryOf(job);
  job.update({ recovery: { ...recovery, resumed: recovery.resumed + 1, nextAttemptAt: 0, lastError: '' } });
  const mibps = job.command.policy.maxBandwidthMibps;
  if (mibps > 0) {
    void deps.hypervisor
      .setMaxSpeed(job.command.vmId, mibps, { postcopy: true })
      .catch((err: unknown) => job.warn(`the post-copy bandwidth cap could not be set again after the resume: ${errorMessage(err)}`));
  }
}

/** Post-copy runs again without this run's call (an attempt of an agent that restarted): followed to its end. */
async function follow(job: MigrationJob, deps: OutgoingDeps): Promise<'completed' | 'paused'> {
  job.setPhase('recovering');
  resumed(job, deps);
  const stop = new AbortController();
  const monitor = startMonitor(job, deps.hypervisor, deps);
  try {
    const end = await deps.hypervisor.followJob(job.command.vmId, stop.signal);
    if (end === 'postcopy-failed') return pausedAgain(job, 'the post-copy broke again', deps);
  } finally {
    stop.abort();
    await monitor.stop();
  }
  if (await goneFromHere(job, deps)) return completed(job, deps);
  throw new FerryError('INTERNAL', "libvirt's migration job ended and the VM is still here, not paused in post-copy");
}

function countAttempt(job: MigrationJob): void {
  const recovery = recoveryOf(job);
  job.update({ recovery: { ...recovery, attempts: recovery.attempts + 1 } });
}

export function pausedAgain(job: MigrationJob, error: string, deps: OutgoingDeps): 'paused' {
  const recovery = recoveryOf(job);
  if (job.phase === 'postcopy') {
    // It was resumed and broke again: a new pause, with a fresh deadline.
    job.setPhase('postcopy-paused');
    const now = deps.clock.now();
    job.update({
      recovery: {
        ...recovery,
        cause: error,
        pausedAt: now,
        deadlineAt: now + job.command.policy.postcopyRecoveryTimeoutS * 1000,
        attempts: 0,
      },
    });
    return 'paused';
  }
  if (job.phase !== 'postcopy-paused') job.setPhase('postcopy-paused');
  job.update({ recovery: { ...recovery, lastError: error } });
  job.warn(`resume attempt ${recovery.attempts} failed: ${error}`);
  return 'paused';
}

export async function completed(job: MigrationJob, deps: OutgoingDeps): Promise<'completed'> {
  await finishCompleted(job, deps, await deps.hypervisor.completedJobStats(job.command.vmId).catch(() => undefined));
  return 'completed';
}

/** libvirt removes the source only once the destination confirmed: a VM gone from here completed its migration. */
function goneFromHere(job: MigrationJob, deps: OutgoingDeps): Promise<boolean> {
  return deps.hypervisor.describeVm(job.command.vmId).then(
    () => false,
    (e: unknown) => isFerryError(e, 'NOT_FOUND'),
  );
}

export function recoveryOf(job: MigrationJob): PostcopyRecovery {
  const recovery = job.snapshot().recovery;
  if (!recovery) throw new FerryError('INTERNAL', `job ${job.id} has no post-copy recovery`);
  return recovery;
}

/** Where the destination's QEMU listened for this job (the host of its migrate URI). */
export function listenAddressOf(job: MigrationJob): string {
  const uri = job.snapshot().migrateUri;
  const hostPort = uri.replace(/^[a-z+]+:\/\//, '');
  return splitHostPort(hostPort, 0).host;
}
