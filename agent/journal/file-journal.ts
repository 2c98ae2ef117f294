/**
 * The job journal on disk: one JSON file per job under the state directory,
 * replaced atomically (write a temporary file, fsync it, rename it over the
 * old one, fsync the directory) so that a crash at any instant leaves either
 * the previous record or the new one, never a torn file. Finished jobs are
 * deleted after the retention period.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export interface JournalRecord<T> {
  jobId: string;
  /** When the record was written (epoch ms). */
  writtenAt: number;
  /** Whether the job had reached a final phase. */
  finished: boolean;
  data: T;
}

export class FileJournal<T> {
  private readonly dir: string;
  /** Writes per job run one after another, so an older snapshot never lands last. */
  private readonly queues = new Map<string, Promise<void>>();
  /**
   * A job's write that waits behind the one in progress: a newer snapshot
   * replaces its record instead of queueing another fsync behind it (its
   * callers are answered once the newer one is durable).
   */
  private readonly waiting = new Map<string, { record: JournalRecord<T>; done: Promise<void> }>();

  /** subdirectory: one per kind of record (outgoing jobs, incoming reservations). */
  constructor(
    stateDirectory: string,
    private readonly now: () => number = Date.now,
    subdirectory = 'jobs',
  ) {
    this.dir = path.join(stateDirectory, subdirectory);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Queues a write of the job's record; resolves once it is durable. */
  write(jobId: string, finished: boolean, data: T): Promise<void> {
    this.fileOf(jobId); // refuse a bad id now, not in a rejected promise nobody awaits
    const record: JournalRecord<T> = { jobId, writtenAt: this.now(), finished, data };
    const queued = this.waiting.get(jobId);
    if (queued) {
      queued.record = record;
      return queued.done;
    }
    const previous = this.queues.get(jobId) ?? Promise.resolve();
    const entry = { record, done: Promise.resolve() };
    const start = () => {
      this.waiting.delete(jobId);
      return this.writeNow(entry.record);
    };
    const next = previous.then(start, start);
    entry.done = next;
    this.waiting.set(jobId, entry);
    this.queues.set(jobId, next);
    void next
      .finally(() => {
        if (this.queues.get(jobId) === next) this.queues.delete(jobId);
      })
      .catch(() => undefined);
    return next;
  }

  /** Every record on disk; unreadable files are skipped (and reported). */
  load(onCorrupt: (file: string, err: unknown) => void = () => {}): JournalRecord<T>[] {
    const records: JournalRecord<T>[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      const file = path.join(this.dir, name);
      try {
        records.push(JSON.parse(readFileSync(file, 'utf8')) as JournalRecord<T>);
      } catch (err) {
        onCorrupt(file, err);
      }
    }
    return records.sort((a, b) => a.writtenAt - b.writtenAt);
  }

  /** Deletes records of jobs that finished before now - retentionMs, and the oldest finished beyond maxRetained. */
  prune(retentionMs: number, maxRetained = Infinity): number {
    const finished = this.load().filter((r) => r.finished); // oldest first
    const expired = finished.filter((r) => r.writtenAt < this.now() - retentionMs);
    const excess = finished.length - expired.length - maxRetained;
    const doomed = [...expired, ...(excess > 0 ? finished.filter((r) => !expired.includes(r)).slice(0, excess) : [])];
    for (const record of doomed) rmSync(this.fileOf(record.jobId), { force: true });
    return doomed.length;
  }

  /** Deletes a job's record once its queued writes have landed (a record nobody needs any more). */
  async remove(jobId: string): Promise<void> {
    const file = this.fileOf(jobId);
    await this.queues.get(jobId)?.catch(() => undefined);
    await rm(file, { force: true });
  }

  /** Waits for every queued write (graceful shutdown). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.queues.values()]);
  }

  /** Bytes used on disk (for the RSS/disk benchmark and operators). */
  size(): number {
    return readdirSync(this.dir).reduce((sum, name) => sum + statSync(path.join(this.dir, name)).size, 0);
  }

  private fileOf(jobId: string): string {
    // Job ids are UUIDs made by this agent; refuse anything that could leave the directory.
    if (!/^[A-Za-z0-9-]{1,64}$/.test(jobId)) throw new Error(`journal: unusable job id ${JSON.stringify(jobId)}`);
    return path.join(this.dir, `${jobId}.json`);
  }

  private async writeNow(record: JournalRecord<T>): Promise<void> {
    const file = this.fileOf(record.jobId);
    const temporary = `${file}.tmp`;
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(record));
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temporary, file);
    } catch (err) {
      await rm(temporary, { force: true });
      throw err;
    }
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
