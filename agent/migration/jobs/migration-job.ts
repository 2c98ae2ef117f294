/**
 * One migration job: its status, changed only through setPhase / update /
 * fail, and the listeners that follow it (WatchMigration streams, the
 * journal, the log). A final phase is final: later updates are ignored, so a
 * late poll cannot resurrect a finished job.
 */
import {
  FINAL_PHASES,
  emptyCounters,
  type ColdCopy,
  type ConvergenceRecord,
  type JobStats,
  type MigrateCommand,
  type MigrationFailure,
  type MigrationPhase,
  type MigrationStatus,
} from '../types.js';
import type { NicBaseline } from '../outgoing/nic-counters.js';
import type { RequestIdentity } from './request-identity.js';
import { noopSpan, type TraceSpan } from '../tracing.js';

/** Allowed transitions; anything else is a bug in the core. */
const NEXT: Record<MigrationPhase, readonly MigrationPhase[]> = {
  queued: ['preparing', 'failed', 'cancelled'],
  // Back to queued: the destination was at its incoming limit and the job
  // gave its outgoing slot back while it waits to retry.
  preparing: ['migrating', 'queued', 'failed', 'cancelled'],
  migrating: ['postcopy', 'completed', 'failed', 'cancelled'],
  // A post-copy that broke pauses; it is resumed (recovering, then post-copy
  // again) or ends FAILED when the guest is lost on the destination. Never
  // cancelled: the guest already runs on the destination.
  postcopy: ['postcopy-paused', 'completed', 'failed'],
  'postcopy-paused': ['recovering', 'completed', 'failed'],
  recovering: ['postcopy', 'postcopy-paused', 'completed', 'failed'],
  completed: [],
  failed: [],
  cancelled: [],
};

export type JobListener = (status: MigrationStatus) => void;

export class MigrationJob {
  private status: MigrationStatus;
  private readonly listeners = new Set<JobListener>();
  /** Aborted when the job is cancelled; the runner's waits listen to it. */
  readonly cancellation = new AbortController();
  private baseline: NicBaseline | undefined;
  /** The job's span, from acceptance to its final phase: its steps are its children (one migration, one trace). */
  span: TraceSpan = noopSpan;

  /**
   * A job as a previous run of the agent journaled it: same id, counters and
   * history. A job that was not finished goes on from its last phase.
   */
  static restore(
    status: MigrationStatus,
    command: MigrateCommand,
    nicBaseline: NicBaseline | undefined,
    now: () => number,
    request?: RequestIdentity,
  ): MigrationJob {
    const job = new MigrationJob(status.jobId, command, now, status.phase, request);
    job.status = { ...status, policy: command.policy };
    job.baseline = nicBaseline;
    return job;
  }

  constructor(
    readonly id: string,
    readonly command: MigrateCommand,
    private readonly now: () => number,
    initialPhase: MigrationPhase,
    /** The caller's request id and fingerprint, when Migrate was given one (a retry finds the job by it). */
    readonly request?: RequestIdentity,
  ) {
    this.status = {
      jobId: id,
      vmId: command.vmId,
      mode: command.mode,
      phase: initialPhase,
      progressPercent: 0,
      data: emptyCounters(),
      memory: emptyCounters(),
      disk: emptyCounters(),
      bandwidthBytesPerS: 0,
      dirtyRateBytesPerS: 0,
      iteration: 0,
      maxDowntimeMs: command.policy.initialDowntimeMs,
      downtimeMs: 0,
      elapsedMs: 0,
      migrateUri: '',
      dst: command.dst,
      sourceMigrationAddress: '',
      bytesOnMigrationNic: 0,
      bytesOnManagementNic: 0,
      warnings: [],
      startedAt: now(),
      policy: command.policy,
      convergence: [],
      completionTimeoutMs: 0,
      waiting: '',
      prepareAttempts: 0,
    };
  }

  get phase(): MigrationPhase {
    return this.status.phase;
  }

  get finished(): boolean {
    return FINAL_PHASES.has(this.status.phase);
  }

  /** A copy, safe to hand to other code. */
  snapshot(): MigrationStatus {
    const s = this.status;
    return {
      ...s,
      data: { ...s.data },
      memory: { ...s.memory },
      disk: { ...s.disk },
      warnings: [...s.warnings],
      convergence: s.convergence.map((r) => ({ ...r })),
      ...(s.coldCopy ? { coldCopy: { ...s.coldCopy, volumes: s.coldCopy.volumes.map((v) => ({ ...v })) } } : {}),
      elapsedMs: (s.finishedAt ?? this.now()) - s.startedAt,
      ...(s.error ? { error: { ...s.error } } : {}),
    };
  }

  /** The NIC counters before the copy started (journaled with the job). */
  get nicBaseline(): NicBaseline | undefined {
    return this.baseline;
  }

  noteNicBaseline(baseline: NicBaseline): void {
    this.baseline = baseline;
  }

  subscribe(listener: JobListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setPhase(next: MigrationPhase): void {
    if (this.finished || this.status.phase === next) return;
    if (!NEXT[this.status.phase].includes(next)) {
      throw new Error(`job ${this.id}: invalid transition ${this.status.phase} -> ${next}`);
    }
    this.status.phase = next;
    if (next !== 'queued') this.status.waiting = '';
    if (next === 'completed') this.status.progressPercent = 100;
    if (FINAL_PHASES.has(next)) this.status.finishedAt = this.now();
    this.emit();
  }

  /** Merges fields (e.g. migrateUri, network) and notifies. */
  update(
    fields: Partial<
      Pick<
        MigrationStatus,
        | 'migrateUri'
        | 'network'
        | 'sourceMigrationAddress'
        | 'maxDowntimeMs'
        | 'bytesOnMigrationNic'
        | 'bytesOnManagementNic'
        | 'completionTimeoutMs'
        | 'waiting'
        | 'prepareAttempts'
        | 'recovery'
      >
    >,
  ): void {
    if (this.finished) return;
    Object.assign(this.status, fields);
    this.emit();
  }

  /** Back to QUEUED (from PREPARING) with the reason it waits. */
  requeue(waiting: string): void {
    if (this.finished) return;
    this.setPhase('queued');
    this.update({ waiting });
  }

  /** Appends to the convergence trail (and the downtime in force, for set-downtime). */
  record(entry: ConvergenceRecord): void {
    if (this.finished) return;
    this.status.convergence.push({ ...entry });
    if (entry.action === 'set-downtime' && entry.downtimeMs !== undefined) this.status.maxDowntimeMs = entry.downtimeMs;
    this.emit();
  }

  warn(message: string): void {
    if (this.status.warnings.includes(message)) return;
    this.status.warnings.push(message);
    this.emit();
  }

  /** Applies libvirt's job statistics; the percentage never goes down and stays below 100 until completed. */
  applyStats(stats: JobStats): void {
    if (this.finished) return;
    this.copyCounters(stats);
    this.status.dirtyRateBytesPerS = stats.dirtyRateBytesPerS;
    this.status.progressPercent = Math.max(this.status.progressPercent, percentOf(stats));
    this.emit();
  }

  /** Records a memory iteration reported by an event (between two polls). */
  noteIteration(iteration: number): void {
    if (this.finished || iteration <= this.status.iteration) return;
    this.status.iteration = iteration;
    this.emit();
  }

  /** The bandwidth cap in force, MiB/s (0: none): the policy's, until ChangeMigrationParams changes it. */
  get maxBandwidthMibps(): number {
    return this.status.policy.maxBandwidthMibps;
  }

  /** ChangeMigrationParams set a new cap: the job's policy shows it from now on. */
  noteMaxBandwidth(mibps: number): void {
    if (this.finished) return;
    this.status.policy = { ...this.status.policy, maxBandwidthMibps: mibps };
    this.emit();
  }

  /**
   * A cold migration's state (its volumes, step, the transfer's bytes): the
   * data counters and bandwidth carry the bytes sent of what the volumes hold.
   */
  noteColdCopy(copy: ColdCopy, sent?: { dataBytes: number; bandwidthBytesPerS: number }): void {
    if (this.finished) return;
    const s = this.status;
    s.coldCopy = { ...copy, volumes: copy.volumes.map((v) => ({ ...v })), ...(copy.restore ? { restore: { ...copy.restore } } : {}) };
    if (sent) {
      const total = Math.max(
        copy.volumes.reduce((sum, v) => sum + v.allocationBytes, 0),
        sent.dataBytes,
      );
      s.data = { total, processed: sent.dataBytes, remaining: total - sent.dataBytes };
      s.disk = { ...s.data };
      s.bandwidthBytesPerS = sent.bandwidthBytesPerS;
      if (total > 0) s.progressPercent = Math.max(s.progressPercent, Math.min(99, Math.floor((sent.dataBytes * 100) / total)));
    }
    this.emit();
  }

  /** Final statistics of a completed job, kept after the phase is final. */
  applyFinalStats(stats: JobStats): void {
    this.copyCounters(stats);
  }

  private copyCounters(stats: JobStats): void {
    const s = this.status;
    s.data = stats.data;
    s.memory = stats.memory;
    s.disk = stats.disk;
    s.bandwidthBytesPerS = stats.bandwidthBytesPerS;
    s.iteration = Math.max(s.iteration, stats.iteration);
    s.downtimeMs = stats.downtimeMs;
    s.libvirtElapsedMs = stats.elapsedMs;
  }

  /** Ends the job FAILED (or CANCELLED when it was cancelled) with a structured error. */
  fail(failure: MigrationFailure): void {
    if (this.finished) return;
    this.status.error = failure;
    this.setPhase(this.cancellation.signal.aborted ? 'cancelled' : 'failed');
  }

  private emit(): void {
    const snapshot = this.snapshot();
    for (const listener of this.listeners) {
      try {
        listener(snapshot);
      } catch {
        // A broken watcher must not break the job; it is its own problem.
      }
    }
  }
}

function percentOf(stats: JobStats): number {
  const { processed, remaining } = stats.data;
  if (processed + remaining === 0) return 0;
  return Math.min(99, Math.floor((processed * 100) / (processed + remaining)));
}
