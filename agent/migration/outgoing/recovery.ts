/**
 * After a restart: what became of the jobs a previous run left unfinished.
 * A P2P migration runs in libvirtd, not in the agent ("Managed peer to peer
 * migration" in https://libvirt.org/migration.html), so a job
 * that was MIGRATING may still be running — the agent reattaches (progress,
 * convergence policy, outcome) — or may have ended while the agent was down:
 * the VM gone from this host means libvirt completed it; the VM still here
 * with no job means it did not. A job that had not started its copy (QUEUED,
 * PREPARING) ran nothing: it is queued again, once the destination was told
 * to drop what it prepared.
 */
import { FerryError } from '../../../shared/errors.js';
import { failureOf } from '../jobs/failure.js';
import { recoverCold } from './cold-recovery.js';
import { removeHibernationFiles } from './hibernation.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import { finishCompleted, tellDestination, vmStateOf, type OutgoingDeps } from './live-migration.js';
import { superviseJob } from '../convergence/supervision.js';
import type { JobStats } from '../types.js';

/**
 * Never throws: the job ends with the outcome libvirt shows, or FAILED with
 * the reason it cannot tell; a job that had not started its copy is handed to
 * `requeue` (QUEUED again, its queue timeout still counted from acceptance).
 */
export async function recoverJob(job: MigrationJob, deps: OutgoingDeps, requeue: (job: MigrationJob) => void): Promise<void> {
  const { vmId } = job.command;
  if (job.command.mode === 'cold') return recoverCold(job, deps, requeue);
  try {
    if (deps.postcopy && (await deps.postcopy.broke(job))) {
      job.warn('the agent restarted while the post-copy was paused; resuming it');
      if (job.phase === 'queued') job.setPhase('preparing');
      return await deps.postcopy.run(job, job.snapshot().recovery?.cause ?? 'found paused in post-copy after the agent restarted');
    }
    const running = await runningJobOf(vmId, deps);
    if (running) {
      job.warn('the agent restarted during this migration and reattached to the libvirt job, which kept running');
      if (job.phase === 'queued') job.setPhase('preparing');
      // A resume that went on without the agent that asked for it runs post-copy again.
      if (job.phase === 'postcopy-paused') job.setPhase('recovering');
      if (job.phase !== 'postcopy') job.setPhase(running.postcopy ? 'postcopy' : 'migrating');
      job.applyStats(running);
      const final = await followRunningJob(job, deps);
      if (final === 'postcopy-failed' && deps.postcopy) return await deps.postcopy.run(job, 'the post-copy broke');
      return await conclude(job, deps, final === 'postcopy-failed' ? undefined : final);
    }
    if (job.phase === 'queued' || (job.phase === 'preparing' && !job.nicBaseline)) {
      // Nothing ran yet: the destination forgets its reservation (the job asks again under the same id).
      if (job.phase === 'preparing' && job.command.mode === 'remote') {
        await tellDestination(job, deps, false, new FerryError('ABORTED', 'the source agent restarted before the copy began'));
      }
      job.warn('the agent restarted before this job started; it was queued again');
      job.requeue('the agent restarted before this job started: queued again');
      return requeue(job);
    }
    job.warn('the agent was down when this migration ended; its outcome is read from where the VM is now');
    await conclude(job, deps, undefined);
  } catch (err) {
    await failRecovered(job, deps, err);
  }
}

/** libvirt's statistics of the VM's job if one runs; undefined when the VM has none (or is gone). */
async function runningJobOf(vmId: string, deps: OutgoingDeps): Promise<JobStats | undefined> {
  try {
    const stats = await deps.hypervisor.jobStats(vmId);
    return stats.type === 'bounded' || stats.type === 'unbounded' ? stats : undefined;
  } catch (err) {
    if (err instanceof FerryError && err.kind === 'NOT_FOUND') return undefined;
    throw err;
  }
}

/** Progress and convergence policy as for a job this run started; resolves with libvirt's final statistics, if it completed. */
async function followRunningJob(job: MigrationJob, deps: OutgoingDeps): Promise<JobStats | undefined | 'postcopy-failed'> {
  // The policy's clocks restart here: a restart lengthens the timeouts by its own duration, never shortens them.
  const supervision = superviseJob(job, deps, { memoryBytes: job.snapshot().memory.total, diskBytes: 0 });
  const stop = new AbortController();
  try {
    const final = await deps.hypervisor.followJob(job.command.vmId, stop.signal);
    if (!final && supervision.steering.abortCause) throw supervision.steering.abortCause;
    return final;
  } finally {
    stop.abort();
    await supervision.stop();
  }
}

/** The job ended (or was already over): COMPLETED if the VM left this host, FAILED if it is still here. */
async function conclude(job: MigrationJob, deps: OutgoingDeps, final: JobStats | undefined): Promise<void> {
  const { command } = job;
  const vm = await deps.hypervisor.describeVm(command.vmId).catch((err: unknown) => {
    if (err instanceof FerryError && err.kind === 'NOT_FOUND') return undefined;
    throw err;
  });
  const completed = command.mode === 'file' ? vm === undefined || vm.state === 'shutoff' : vm === undefined;
  if (!completed) {
    throw new FerryError(
      'ABORTED',
      `libvirt's ${command.mode === 'file' ? 'save' : 'migration'} job ended without completing (the agent was restarted meanwhile)`,
    );
  }
  if (!final) job.warn('libvirt kept no final statistics of this job: the counters are the last ones seen');
  if (command.mode === 'remote') return finishCompleted(job, deps, final);
  if (final) job.applyFinalStats(final);
  job.setPhase('completed');
}

async function failRecovered(job: MigrationJob, deps: OutgoingDeps, err: unknown): Promise<void> {
  const vmState = await vmStateOf(job, deps.hypervisor);
  if (job.command.mode === 'remote') await tellDestination(job, deps, false, err);
  // Only when the VM is known to be still here: an unfinished save's files are then worthless.
  else if (vmState.state === 'running' || vmState.state === 'paused')
    await removeHibernationFiles(job.command, true, deps.hibernationFiles);
  job.fail(failureOf('recover', err, vmState));
}
