/**
 * Per-job gauges, for the jobs not finished yet only: read from the core's
 * job list at each scrape, so a job's series vanish with it (KubeVirt's
 * kubevirt_vmi_migration_data_* are per migrating VMI in the same way). Their
 * number is bounded by the outgoing limit plus the queue.
 */
import { Gauge, type Registry } from 'prom-client';
import type { MigrationStatus } from '../../migration/index.js';

const JOB_LABELS = ['job_id', 'vm_id', 'mode'] as const;
type JobLabel = (typeof JOB_LABELS)[number];

export interface RunningJobsSource {
  /** The jobs not finished yet. */
  running(): MigrationStatus[];
  /** Called with each of them at every scrape (the convergence actions counted as they happen). */
  seen?(status: MigrationStatus): void;
}

interface JobGauge {
  gauge: Gauge<JobLabel>;
  value: (s: MigrationStatus) => number;
}

export function registerJobGauges(registry: Registry, source: RunningJobsSource): void {
  const gauges: JobGauge[] = [];
  // Registered first, so its collect runs first at every scrape and fills every job gauge from one read of the job list
  // (prom-client starts each metric's collect in registration order: Registry.metrics).
  const phase: Gauge<JobLabel | 'phase'> = new Gauge({
    name: 'ferry_migration_job_phase',
    help: "A running job's phase: 1 for the phase it is in.",
    labelNames: [...JOB_LABELS, 'phase'],
    registers: [registry],
    collect: () => {
      phase.reset();
      for (const { gauge } of gauges) gauge.reset();
      for (const s of source.running()) {
        source.seen?.(s);
        const labels = { job_id: s.jobId, vm_id: s.vmId, mode: s.mode };
        phase.set({ ...labels, phase: s.phase }, 1);
        for (const { gauge, value } of gauges) gauge.set(labels, value(s));
      }
    },
  });
  const define = (name: string, help: string, value: (s: MigrationStatus) => number) =>
    gauges.push({ gauge: new Gauge({ name, help, labelNames: JOB_LABELS, registers: [registry] }), value });

  define('ferry_migration_job_data_processed_bytes', 'Data (memory and disks) copied so far by a running job.', (s) => s.data.processed);
  define('ferry_migration_job_data_remaining_bytes', 'Data still to copy of a running job.', (s) => s.data.remaining);
  define('ferry_migration_job_data_total_bytes', 'Data to copy in all of a running job.', (s) => s.data.total);
  define('ferry_migration_job_memory_dirty_rate_bytes', "The guest's memory dirty rate, bytes per second.", (s) => s.dirtyRateBytesPerS);
  define('ferry_migration_job_transfer_rate_bytes', 'The transfer rate of a running job, bytes per second.', (s) => s.bandwidthBytesPerS);
  define('ferry_migration_job_iteration', "libvirt's memory iteration of a running job.", (s) => s.iteration);
  define('ferry_migration_job_progress_ratio', 'How far a running job has come, 0 to 1.', (s) => s.progressPercent / 100);
  define('ferry_migration_job_max_downtime_seconds', 'The downtime a running job allows now.', (s) => s.maxDowntimeMs / 1000);
  define('ferry_migration_job_start_time_seconds', 'When a running job was accepted (Unix time).', (s) => s.startedAt / 1000);
}
