/** libvirt's job statistics (typed parameters) in the core's terms. */
import { constants as c, numberField, type JobStats as LibvirtJobStats } from '../libvirt/index.js';
import type { JobStats } from '../migration/index.js';

const JOB_TYPE: Record<number, JobStats['type']> = {
  [c.VIR_DOMAIN_JOB_NONE]: 'none',
  [c.VIR_DOMAIN_JOB_BOUNDED]: 'bounded',
  [c.VIR_DOMAIN_JOB_UNBOUNDED]: 'unbounded',
  [c.VIR_DOMAIN_JOB_COMPLETED]: 'completed',
  [c.VIR_DOMAIN_JOB_FAILED]: 'failed',
  [c.VIR_DOMAIN_JOB_CANCELLED]: 'cancelled',
};

export function jobStatsFrom(raw: LibvirtJobStats, postcopy: boolean): JobStats {
  const n = (field: string) => numberField(raw.stats, field) ?? 0;
  const counters = (prefix: 'data' | 'memory' | 'disk') => ({
    total: n(`${prefix}_total`),
    processed: n(`${prefix}_processed`),
    remaining: n(`${prefix}_remaining`),
  });
  const pageSize = n(c.VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE) || 4096;
  return {
    type: JOB_TYPE[raw.type] ?? 'none',
    elapsedMs: n(c.VIR_DOMAIN_JOB_TIME_ELAPSED),
    data: counters('data'),
    memory: counters('memory'),
    disk: counters('disk'),
    bandwidthBytesPerS: n(c.VIR_DOMAIN_JOB_MEMORY_BPS) + n(c.VIR_DOMAIN_JOB_DISK_BPS),
    // libvirt reports the dirty rate in pages per second.
    dirtyRateBytesPerS: n(c.VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE) * pageSize,
    iteration: n(c.VIR_DOMAIN_JOB_MEMORY_ITERATION),
    downtimeMs: n(c.VIR_DOMAIN_JOB_DOWNTIME),
    postcopy,
  };
}
