/**
 * Where jobs live: by id, by VM for "its current or latest job", and by the
 * caller's request id (request-identity.ts). Finished jobs stay answerable
 * for the retention period (and at most maxRetained of them, the oldest
 * forgotten first), then are forgotten, and their request ids with them.
 */
import { FerryError } from '../../../shared/errors.js';
import type { MigrationJob } from './migration-job.js';

export type JobSelector = { jobId: string } | { vmId: string };

export class JobRegistry {
  private readonly jobs = new Map<string, MigrationJob>();
  /** Request id → job id, for the jobs above that were created with one. */
  private readonly byRequestId = new Map<string, string>();

  constructor(
    private readonly retentionMs: number,
    private readonly now: () => number,
    private readonly maxRetained = Infinity,
  ) {}

  add(job: MigrationJob): void {
    this.prune();
    this.jobs.set(job.id, job);
    if (job.request) this.byRequestId.set(job.request.id, job.id);
  }

  /** The job a Migrate call with this request id created, while it is retained. */
  forRequest(requestId: string): MigrationJob | undefined {
    this.prune();
    const jobId = this.byRequestId.get(requestId);
    return jobId === undefined ? undefined : this.jobs.get(jobId);
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

  /** Newest first: by acceptance time, then by job id (descending), an order paging can resume in (job-pages.ts). */
  list(activeOnly: boolean): MigrationJob[] {
    this.prune();
    return [...this.jobs.values()]
      .filter((j) => !activeOnly || !j.finished)
      .map((job) => ({ job, startedAt: job.snapshot().startedAt }))
      .sort((a, b) => b.startedAt - a.startedAt || (a.job.id < b.job.id ? 1 : a.job.id > b.job.id ? -1 : 0))
      .map(({ job }) => job);
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
      if (finishedAt < horizon) this.forget(id);
      else finished.push([id, finishedAt]);
    }
    if (finished.length <= this.maxRetained) return;
    finished.sort((a, b) => a[1] - b[1]);
    for (const [id] of finished.slice(0, finished.length - this.maxRetained)) this.forget(id);
  }

  private forget(jobId: string): void {
    const request = this.jobs.get(jobId)?.request;
    if (request && this.byRequestId.get(request.id) === jobId) this.byRequestId.delete(request.id);
    this.jobs.delete(jobId);
  }
}
