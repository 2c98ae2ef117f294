/**
 * The migration counters and histograms, fed by the core's job transitions
 * (OutgoingMigrations' onTransition: every phase change of every job, with
 * its status). Labels are bounded: mode, phase, result, reason, step,
 * action, NIC role; never a job id. The one exception is vm_id on
 * ferry_migration_vm_migrations_total, which the "migrated too often" alert
 * needs: it is bounded by the VMs whose migration this agent accepted since
 * it started (at most the VMs of the cluster). Its series is created at 0
 * when the job is accepted, so Prometheus sees the first completion as an
 * increase (unless it completes within one scrape interval).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { MigrationPhase, MigrationStatus } from '../../migration/index.js';
import { DOWNTIME_SECONDS, DURATION_SECONDS, ITERATIONS, PHASE_SECONDS, TRANSFER_BYTES } from './buckets.js';
import { outcomeOf, triggerOf } from './migration-outcomes.js';

/** What the metrics keep of a job while it runs: bounded by the jobs running (outgoing limit and queue). */
interface Followed {
  phase: MigrationPhase;
  enteredAt: number;
  /** Convergence records already counted. */
  actionsCounted: number;
}

export class MigrationMetrics {
  private readonly followed = new Map<string, Followed>();
  private readonly started: Counter<'mode'>;
  private readonly outcomes: Counter<'mode' | 'result' | 'reason'>;
  private readonly failedSteps: Counter<'mode' | 'step'>;
  private readonly perVm: Counter<'vm_id'>;
  private readonly duration: Histogram<'mode' | 'result'>;
  private readonly phaseDuration: Histogram<'mode' | 'phase'>;
  private readonly downtime: Histogram<'mode'>;
  private readonly iterations: Histogram<'mode'>;
  private readonly nicBytes: Histogram<'nic'>;
  private readonly processed: Counter<'mode'>;
  private readonly actions: Counter<'action' | 'trigger'>;
  private readonly postcopy: Counter;
  private readonly prepareRetries: Counter;
  private readonly lastFinished: Gauge<'result'>;

  constructor(
    registry: Registry,
    private readonly now: () => number,
  ) {
    const registers = [registry];
    this.started = new Counter({
      name: 'ferry_migration_started_total',
      help: 'Outgoing migration jobs accepted by Migrate (or taken back from the journal after a restart).',
      labelNames: ['mode'],
      registers,
    });
    this.outcomes = new Counter({
      name: 'ferry_migration_finished_total',
      help: 'Outgoing migration jobs ended, by result and reason (completion_timeout, stall_timeout, schedule_abort, cancelled, or the error kind).',
      labelNames: ['mode', 'result', 'reason'],
      registers,
    });
    this.failedSteps = new Counter({
      name: 'ferry_migration_failed_steps_total',
      help: 'Failed or cancelled jobs by the step that failed (queue, prepare, perform, converge, cancel, recover…).',
      labelNames: ['mode', 'step'],
      registers,
    });
    // Series an alert waits for exist from the start at 0, so their first increase shows
    // (Prometheus docs, instrumentation: "Avoid missing metrics").
    for (const mode of ['remote', 'file', 'cold']) {
      this.outcomes.inc({ mode, result: 'completed', reason: 'none' }, 0);
      this.outcomes.inc({ mode, result: 'cancelled', reason: 'cancelled' }, 0);
      for (const reason of ['completion_timeout', 'stall_timeout', 'schedule_abort'])
        this.outcomes.inc({ mode, result: 'failed', reason }, 0);
    }
    this.perVm = new Counter({
      name: 'ferry_migration_vm_migrations_total',
      help: 'Completed outgoing migrations per VM (series bounded by the VMs that left this host since the agent started).',
      labelNames: ['vm_id'],
      registers,
    });
    this.duration = new Histogram({
      name: 'ferry_migration_duration_seconds',
      help: 'Time from a job being accepted to its end, queue included.',
      labelNames: ['mode', 'result'],
      buckets: DURATION_SECONDS,
      registers,
    });
    this.phaseDuration = new Histogram({
      name: 'ferry_migration_phase_duration_seconds',
      help: 'Time a job spent in a phase (queued is the wait for a slot or a busy destination), observed when it leaves the phase.',
      labelNames: ['mode', 'phase'],
      buckets: PHASE_SECONDS,
      registers,
    });
    this.downtime = new Histogram({
      name: 'ferry_migration_downtime_seconds',
      help: "libvirt's measured downtime of completed migrations.",
      labelNames: ['mode'],
      buckets: DOWNTIME_SECONDS,
      registers,
    });
    this.iterations = new Histogram({
      name: 'ferry_migration_iterations',
      help: "Memory iterations (libvirt's passes) of completed migrations.",
      labelNames: ['mode'],
      buckets: ITERATIONS,
      registers,
    });
    this.nicBytes = new Histogram({
      name: 'ferry_migration_nic_bytes',
      help: 'Bytes each completed live migration sent on the migration NIC and on the management NIC (transmit counters from the copy start to its end).',
      labelNames: ['nic'],
      buckets: TRANSFER_BYTES,
      registers,
    });
    this.processed = new Counter({
      name: 'ferry_migration_data_processed_bytes_total',
      help: "Data processed of completed migrations, as libvirt's final job statistics report it.",
      labelNames: ['mode'],
      registers,
    });
    this.actions = new Counter({
      name: 'ferry_migration_convergence_actions_total',
      help: 'Convergence actions taken on running jobs (set-downtime, post-copy, suspend, abort), by what triggered them.',
      labelNames: ['action', 'trigger'],
      registers,
    });
    this.postcopy = new Counter({
      name: 'ferry_migration_postcopy_switches_total',
      help: 'Jobs that switched to post-copy (by the schedule, ChangeMigrationParams or QEMU).',
      registers,
    });
    this.prepareRetries = new Counter({
      name: 'ferry_migration_prepare_retries_total',
      help: 'PrepareIncoming calls repeated because the destination was busy (at its incoming limit), counted when the job ends.',
      registers,
    });
    this.lastFinished = new Gauge({
      name: 'ferry_migration_last_finished_timestamp_seconds',
      help: 'When the last job with this result ended (Unix time).',
      labelNames: ['result'],
      registers,
    });
  }

  /** One phase change of a job (previous null: a new or restored job). */
  transition(status: MigrationStatus, previous: MigrationPhase | null): void {
    // A finished job taken back from the journal after a restart was counted by the run that finished it.
    if (previous === null && outcomeOf(status)) return;
    const at = status.finishedAt ?? this.now();
    const known = this.followed.get(status.jobId);
    if (previous === null || !known) {
      if (previous === null) this.started.inc({ mode: status.mode });
      // The VM's series exists (at 0) before its migration completes: see the class comment.
      if (status.mode === 'remote') this.perVm.inc({ vm_id: status.vmId }, 0);
      this.followed.set(status.jobId, { phase: status.phase, enteredAt: at, actionsCounted: 0 });
    } else {
      this.phaseDuration.observe({ mode: status.mode, phase: known.phase }, seconds(at - known.enteredAt));
      known.phase = status.phase;
      known.enteredAt = at;
    }
    // A resumed post-copy (recovering, then postcopy again) is not another switch.
    if (status.phase === 'postcopy' && previous !== 'recovering') this.postcopy.inc();
    this.countActions(status);
    const outcome = outcomeOf(status);
    if (outcome) this.finished(status, outcome);
  }

  /** Counts convergence actions not counted yet (at every transition, and at every scrape for running jobs). */
  countActions(status: MigrationStatus): void {
    const followed = this.followed.get(status.jobId);
    if (!followed) return;
    for (const record of status.convergence.slice(followed.actionsCounted)) {
      this.actions.inc({ action: record.action, trigger: triggerOf(record) });
    }
    followed.actionsCounted = Math.max(followed.actionsCounted, status.convergence.length);
  }

  private finished(status: MigrationStatus, outcome: NonNullable<ReturnType<typeof outcomeOf>>): void {
    this.followed.delete(status.jobId);
    const { mode } = status;
    this.outcomes.inc({ mode, result: outcome.result, reason: outcome.reason });
    if (outcome.result !== 'completed') this.failedSteps.inc({ mode, step: outcome.step });
    this.duration.observe({ mode, result: outcome.result }, seconds(status.elapsedMs));
    this.lastFinished.set({ result: outcome.result }, (status.finishedAt ?? this.now()) / 1000);
    if (status.prepareAttempts > 1) this.prepareRetries.inc(status.prepareAttempts - 1);
    if (outcome.result !== 'completed') return;
    this.processed.inc({ mode }, status.data.processed);
    this.downtime.observe({ mode }, seconds(status.downtimeMs));
    this.iterations.observe({ mode }, status.iteration);
    if (mode === 'remote') {
      this.perVm.inc({ vm_id: status.vmId });
      this.nicBytes.observe({ nic: 'migration' }, status.bytesOnMigrationNic);
      this.nicBytes.observe({ nic: 'management' }, status.bytesOnManagementNic);
    }
  }
}

function seconds(ms: number): number {
  return Math.max(0, ms) / 1000;
}
