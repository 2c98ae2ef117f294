/**
 * The restart intake: the jobs a previous run journaled, taken back when the
 * agent starts. Finished ones are registered to answer status calls for the
 * rest of their retention; unfinished ones are followed to their end
 * (recovery.ts). Apart from outgoing-migrations.ts because it runs once, from
 * the journal and libvirt's state, not from a caller: the two intakes share
 * only the registry, the slots and the one start path (admission.ts).
 */
import type { JobRegistry } from '../jobs/job-registry.js';
import type { JournaledJob } from '../jobs/job-journal.js';
import { MigrationJob } from '../jobs/migration-job.js';
import type { Clock, Tracer } from '../ports.js';
import { BUILTIN_DEFAULTS } from '../policy/policy.js';
import type { MigrateCommand, MigrationPolicy } from '../types.js';
import { type AdmissionDeps, runAdmitted } from './admission.js';
import type { OutgoingDeps } from './live-migration.js';
import { recoverJob } from './recovery.js';
import type { SlotQueue } from './slot-queue.js';

/** What the restart intake shares with the live one (OutgoingMigrations). */
export interface RestartIntake {
  clock: Clock;
  retentionMs: number;
  policyDefaults: (() => MigrationPolicy) | undefined;
  tracer: Tracer;
  registry: JobRegistry;
  slots: SlotQueue;
  /** Adds the job to the registry, the journal and the transition log. */
  register: (job: MigrationJob, restored: boolean) => void;
  /** What a running job needs: the host's ports and the post-copy recoveries. */
  jobDeps: () => OutgoingDeps;
  admissionDeps: () => AdmissionDeps;
}

/**
 * After a restart: takes back the jobs a previous run journaled. Finished
 * ones answer status calls for the rest of their retention; unfinished ones
 * are followed to their end (recovery.ts), each holding an outgoing slot,
 * or queued again when they had not started.
 * Returns the number of jobs still being followed.
 */
export function takeBackJobs(records: readonly JournaledJob[], intake: RestartIntake): number {
  const horizon = intake.clock.now() - intake.retentionMs;
  let following = 0;
  for (const { status, command: journaled, nicBaseline, request } of records) {
    if (status.finishedAt !== undefined && status.finishedAt < horizon) continue;
    const command = withNewerDefaults(journaled, intake.policyDefaults?.() ?? BUILTIN_DEFAULTS);
    if (intake.registry.has(status.jobId)) continue;
    // The request id comes back with its job: a retry after the restart finds it (registry.add indexes it).
    const job = MigrationJob.restore(status, command, nicBaseline, () => intake.clock.now(), request);
    // The trace of the run that started it ended with that run: what is left is followed in a trace of its own.
    if (!job.finished) {
      job.span = intake.tracer.startSpan('migration (followed after a restart)', {
        attributes: { 'ferry.job_id': job.id, 'ferry.vm_id': command.vmId },
      });
    }
    intake.register(job, true);
    if (job.finished) continue;
    following++;
    const release = intake.slots.claim();
    const requeue = (queued: MigrationJob) => {
      release(); // it waits for a slot like any queued job
      void runAdmitted(queued, intake.admissionDeps());
    };
    void recoverJob(job, intake.jobDeps(), requeue).finally(release);
  }
  return following;
}

/** A job journaled by an older agent lacks the policy fields added since: the host's defaults fill them. */
function withNewerDefaults(command: MigrateCommand, defaults: MigrationPolicy): MigrateCommand {
  const policy: Partial<MigrationPolicy> = command.policy;
  return {
    ...command,
    keepSource: command.keepSource ?? false,
    policy: { ...command.policy, postcopyRecoveryTimeoutS: policy.postcopyRecoveryTimeoutS ?? defaults.postcopyRecoveryTimeoutS },
  };
}
