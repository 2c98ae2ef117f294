/**
 * Completed-job statistics from libvirt's JOB_COMPLETED event. UNDEFINE_SOURCE
 * takes the domain, and its completed-job statistics (the measured downtime),
 * with it: the event carries them first. One subscription for the life of
 * the agent (the client re-registers it on every reconnect) collects them
 * for every VM.
 */
import { constants as c, type ReconnectingClient } from '../libvirt/index.js';
import type { JobStats } from '../migration/index.js';
import { jobStatsFrom } from './job-stats.js';

/** Statistics kept for VMs whose job nobody has read yet (incoming ones and saves complete here too). */
const MAX_KEPT = 256;
/** How long statistics are waited for after the job's own call returned: the event may trail it. */
const EVENT_WAIT_MS = 2000;

export class CompletedJobs {
  private readonly stats = new Map<string, JobStats>();
  private readonly waiters = new Map<string, () => void>();
  private subscription: Promise<void> | undefined;

  constructor(private readonly libvirt: ReconnectingClient) {}

  /** Before a job of this VM starts: forget what an earlier job left, and make sure the event is subscribed. */
  async expect(vmId: string): Promise<void> {
    this.stats.delete(vmId);
    this.subscription ??= this.libvirt
      .subscribe(c.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, (event) => {
        const oldest = this.stats.size >= MAX_KEPT ? this.stats.keys().next() : undefined;
        if (oldest && !oldest.done) this.stats.delete(oldest.value);
        this.stats.set(
          event.domain.uuid,
          jobStatsFrom({ type: c.VIR_DOMAIN_JOB_COMPLETED, typeName: 'COMPLETED', params: event.params, stats: event.stats }, false),
        );
        this.waiters.get(event.domain.uuid)?.();
      })
      .then(
        () => undefined,
        () => {
          this.subscription = undefined; // tried again with the next job; meanwhile the statistics are simply missing
        },
      );
    await this.subscription;
  }

  /** The VM's completed-job statistics, waiting (woken by the event) up to EVENT_WAIT_MS; read once. */
  async take(vmId: string): Promise<JobStats | undefined> {
    if (!this.stats.has(vmId)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, EVENT_WAIT_MS);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.set(vmId, done);
      });
      this.waiters.delete(vmId);
    }
    const stats = this.stats.get(vmId);
    this.stats.delete(vmId);
    return stats;
  }
}
