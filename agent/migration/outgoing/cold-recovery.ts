/**
 * After a restart: a cold migration the previous run left unfinished. Its
 * transfer ran in the agent, so it died with it; what is journaled says
 * where it stood (cold-migration.ts journals each step before it starts):
 *   preparing, or transfer  nothing reached the destination's libvirt: the
 *                           destination drops its partial copies and the job
 *                           is queued again (not started) or FAILED (the VM is
 *                           intact here either way)
 *   define                  the offline migration may or may not have run:
 *                           it is run again (libvirt defines the same UUID
 *                           over itself), then the job finishes
 *   remove-source, done     the VM is on the destination: the cleanup is done again
 */
import { FerryError } from '../../../shared/errors.js';
import { failureOf } from '../jobs/failure.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import { inSpan } from '../tracing.js';
import { defineOnDestination, finishCold } from './cold-migration.js';
import { tellDestination, vmStateOf, type OutgoingDeps } from './live-migration.js';
import { coldDeps } from './prepare-cold.js';

export async function recoverCold(job: MigrationJob, deps: OutgoingDeps, requeue: (job: MigrationJob) => void): Promise<void> {
  const step = job.snapshot().coldCopy?.step;
  try {
    if (job.phase === 'queued' || (job.phase === 'preparing' && step === undefined)) {
      if (job.phase === 'preparing') await tellDestination(job, deps, false, restarted('before the transfer began'));
      job.warn('the agent restarted before this job started; it was queued again');
      job.requeue('the agent restarted before this job started: queued again');
      return requeue(job);
    }
    if (step === undefined || step === 'transfer') throw restarted('during the transfer, which ran in it');
    const cold = coldDeps(deps);
    if (step === 'define') {
      job.warn('the agent restarted while the definition was moving to the destination; moving it again');
      await inSpan(job.span.child('define'), () => defineOnDestination(job, cold));
    } else {
      job.warn('the agent restarted after the definition had moved; finishing the cleanup');
    }
    await finishCold(job, cold);
  } catch (err) {
    await tellDestination(job, deps, false, err);
    job.fail(failureOf('recover', err, await vmStateOf(job, deps.hypervisor)));
  }
}

function restarted(when: string): FerryError {
  return new FerryError(
    'ABORTED',
    `the source agent restarted ${when}: the destination removed its copies and the VM is intact on the source; migrate it again`,
  );
}
