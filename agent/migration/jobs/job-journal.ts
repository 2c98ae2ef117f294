/**
 * Outgoing jobs on disk: every job's request, phase and final status, so an
 * agent that restarts (crash, upgrade, SIGKILL) still answers for its jobs and
 * can follow the libvirt migrations that kept running without it. A record is
 * written when the job is created, at every phase change, warning or
 * convergence action, at most every progressEveryMs while it migrates (the
 * last counters seen), and once more when it ends.
 */
import type { MigrationJob } from './migration-job.js';
import type { NicBaseline } from '../outgoing/nic-counters.js';
import type { Journal } from '../ports.js';
import type { MigrateCommand, MigrationStatus } from '../types.js';
import type { RequestIdentity } from './request-identity.js';

/** What the journal keeps of one outgoing job. */
export interface JournaledJob {
  command: MigrateCommand;
  status: MigrationStatus;
  /** Set once the copy started: the NIC counters to measure the copy against. */
  nicBaseline?: NicBaseline;
  /** The caller's request id and the fingerprint of its request: a retry after a restart finds the job by it. */
  request?: RequestIdentity;
}

export class JobJournal {
  private frozen = false;
  private readonly pending = new Set<Promise<void>>();
  /** Each job's latest write: durable() waits for it. */
  private readonly latest = new Map<string, Promise<void>>();

  constructor(
    private readonly journal: Journal<JournaledJob>,
    private readonly onError: (jobId: string, err: unknown) => void,
    private readonly now: () => number,
    private readonly progressEveryMs = 10_000,
  ) {}

  /** The jobs a previous run recorded, oldest first. */
  load(onCorrupt?: (file: string, err: unknown) => void): JournaledJob[] {
    return this.journal.load(onCorrupt).map((r) => r.data);
  }

  /**
   * Records the job now (unless it was just restored from this journal: its
   * record is on disk already, and rewriting it would renew its age) and
   * whenever it changes in a way worth keeping.
   */
  follow(job: MigrationJob, restored = false): void {
    let lastKey = restored ? keyOf(job, job.snapshot()) : '';
    let lastWrite = restored ? this.now() : 0;
    const write = (status: MigrationStatus) => {
      const key = keyOf(job, status);
      if (key === lastKey && this.now() - lastWrite < this.progressEveryMs) return;
      lastKey = key;
      lastWrite = this.now();
      this.save(job, status);
    };
    if (!restored) write(job.snapshot());
    job.subscribe(write);
  }

  /**
   * Resolves once the job's record as it is now is on disk (a failed write
   * was reported to onError and is not waited for again). Before libvirt's
   * perform call: a restarted agent must find a job whose copy may have begun.
   */
  durable(job: MigrationJob): Promise<void> {
    return this.latest.get(job.id) ?? Promise.resolve();
  }

  /**
   * Stops all writes (graceful shutdown) and waits for those in flight: from
   * here on, jobs that end because the agent is going away, not because their
   * migration did, must stay unfinished on disk for the next run to follow.
   */
  async freeze(): Promise<void> {
    this.frozen = true;
    await Promise.allSettled([...this.pending]);
  }

  private save(job: MigrationJob, status: MigrationStatus): void {
    if (this.frozen) return;
    const record: JournaledJob = {
      command: job.command,
      status,
      ...(job.nicBaseline ? { nicBaseline: job.nicBaseline } : {}),
      ...(job.request ? { request: job.request } : {}),
    };
    const write = this.journal.write(job.id, job.finished, record).catch((err: unknown) => this.onError(job.id, err));
    this.pending.add(write);
    this.latest.set(job.id, write);
    void write.finally(() => {
      this.pending.delete(write);
      if (this.latest.get(job.id) === write) this.latest.delete(job.id);
    });
  }
}

/** What, when it changes, is worth a write at once (progress counters alone wait for progressEveryMs). */
function keyOf(job: MigrationJob, s: MigrationStatus): string {
  const r = s.recovery;
  const recovery = r ? `${r.attempts}|${r.nextAttemptAt}|${r.resumed}` : '';
  // A cold migration's step decides what a restart may redo (cold-recovery.ts); its placements, where the copies are.
  const cold = s.coldCopy ? `${s.coldCopy.step}|${s.coldCopy.volumes.map((v) => v.destinationPath).join(',')}` : '';
  return `${s.phase}|${s.warnings.length}|${s.convergence.length}|${s.migrateUri}|${s.waiting}|${job.nicBaseline ? 1 : 0}|${recovery}|${cold}`;
}
