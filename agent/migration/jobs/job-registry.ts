/**
 * Where jobs live: by id, and by VM for "its current or latest job". Finished
 * jobs stay answerable for the retention period (and at most maxRetained of
 * them, the oldest forgotten first), then are forgotten.
 */
import { FerryError } from '../../../shared/errors.js';
import type { MigrationJob } from './migration-job.js';

export type JobSelector = { jobId: string } | { vmId: string };

export class JobRegistry {
  private readonly jobs = new Map<string, MigrationJob>();

  constructor(
    private readonly retentionMs: number,
    private readonly now: () => number,
    private readonly maxRetained = Infinity,
  ) {}

  add(job: MigrationJob): void {
    this.prune();
    this.jobs.set(job.id, job);
  }

  has(jobId: string): boolean {
    return this.jobs.has(jobId);
  }

  /** The VM's unfinished job, if any. */
  activeFor(vmId: string): MigrationJob | undefined {
    for (const job of this.jobs.values()) if (job.command.vmId === vmId && !job.finished) return job;
    return undefined;
  }

  /** NOT_FOUND with a message naming what was asked for. */
  get(selector: JobSelector): MigrationJob {
    this.prune();
    if ('jobId' in selector) {
      const job = this.jobs.get(selector.jobId);
      if (!job)
        throw new FerryError(
          'NOT_FOUND',
          `no migration job ${selector.jobId} on this host (finished jobs are kept ${this.retentionMs / 1000} s)`,
          { field: 'job.job_id', reason: 'JOB_NOT_FOUND' },
        );
      return job;
    }
    const job = this.activeFor(selector.vmId) ?? this.newest((j) => j.command.vmId === selector.vmId);
    if (!job)
      throw new FerryError('NOT_FOUND', `no migration job for VM ${selector.vmId} on this host`, {
        field: 'job.vm_id',
        reason: 'JOB_NOT_FOUND',
      });
    return job;
  }

  /** Newest first. */
  list(activeOnly: boolean): MigrationJob[] {
    this.prune();
    return [...this.jobs.values()]
      .filter((j) => !activeOnly || !j.finished)
      .sort((a, b) => b.snapshot().startedAt - a.snapshot().startedAt);
  }

  private newest(match: (job: MigrationJob) => boolean): MigrationJob | undefined {
    return this.list(false).find(match);
  }

  private prune(): void {
    const horizon = this.now() - this.retentionMs;
    const finished: Array<[string, number]> = [];
    for (const [id, job] of this.jobs) {
      const finishedAt = job.snapshot().finishedAt;
      if (finishedAt === undefined) continue;
      if (finishedAt < horizon) this.jobs.delete(id);
      else finished.push([id, finishedAt]);
    }
    if (finished.length <= this.maxRetained) return;
    finished.sort((a, b) => a[1] - b[1]);
    for (const [id] of finished.slice(0, finished.length - this.maxRetained)) this.jobs.delete(id);
  }
}
