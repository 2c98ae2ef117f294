/**
 * WatchMigration's listeners: each gets a job's current status at once, then
 * every change, and is let go after the final phase or when its stream ends.
 * They are counted per job so that a test (and an operator reading GetStats)
 * can see that a stream which ended left no listener behind.
 */
import type { MigrationStatus } from '../types.js';
import type { MigrationJob } from './migration-job.js';

export interface JobWatch {
  /** Resolves after the final phase was delivered, or once stop() was called. */
  done: Promise<void>;
  stop: () => void;
}

export class JobWatchers {
  private readonly counts = new Map<string, number>();

  watch(job: MigrationJob, listener: (status: MigrationStatus) => void): JobWatch {
    let stop = () => {};
    const done = new Promise<void>((resolve) => {
      const deliver = (status: MigrationStatus) => {
        listener(status);
        if (job.finished) {
          stop();
          resolve();
        }
      };
      const unsubscribe = job.subscribe(deliver);
      this.counts.set(job.id, (this.counts.get(job.id) ?? 0) + 1);
      let stopped = false;
      stop = () => {
        if (!stopped) {
          stopped = true;
          unsubscribe();
          const left = (this.counts.get(job.id) ?? 1) - 1;
          if (left > 0) this.counts.set(job.id, left);
          else this.counts.delete(job.id);
        }
        resolve();
      };
      deliver(job.snapshot());
    });
    return { done, stop };
  }

  count(jobId: string): number {
    return this.counts.get(jobId) ?? 0;
  }
}
