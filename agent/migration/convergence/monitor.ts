/**
 * Follows a running libvirt job: polls job statistics (the adapter bounds
 * each poll, so a job lock held elsewhere delays a sample but never the
 * migration), listens to migration-iteration events between polls, and hands
 * every sample to `onSample` (the convergence steering of an outgoing
 * migration). onSample is awaited, so the actions it takes never overlap.
 */
import type { MigrationJob } from '../jobs/migration-job.js';
import type { Clock, Hypervisor } from '../ports.js';
import type { JobStats } from '../types.js';

export interface Monitor {
  stop(): Promise<void>;
}

export interface MonitorOptions {
  clock: Clock;
  pollIntervalMs: number;
  /**
   * Called after each poll, with the statistics of a running job, or with
   * undefined when the poll failed or there was no job yet (time still passes
   * for timeouts).
   */
  onSample?: (stats: JobStats | undefined) => Promise<void>;
}

export function startMonitor(job: MigrationJob, hypervisor: Hypervisor, options: MonitorOptions): Monitor {
  const stopped = new AbortController();
  const unsubscribe = hypervisor.onIteration(job.command.vmId, (iteration) => job.noteIteration(iteration));

  const loop = (async () => {
    while (!stopped.signal.aborted) {
      let sample: JobStats | undefined;
      try {
        const stats = await hypervisor.jobStats(job.command.vmId);
        if (stopped.signal.aborted) break;
        if (stats.type === 'bounded' || stats.type === 'unbounded') {
          job.applyStats(stats);
          if (stats.postcopy && job.phase === 'migrating') job.setPhase('postcopy');
          sample = stats;
        }
      } catch {
        // A missed sample is not a failed migration: the perform call decides that.
      }
      if (stopped.signal.aborted) break;
      await options.onSample?.(sample).catch(() => undefined);
      await options.clock.sleep(options.pollIntervalMs, stopped.signal);
    }
  })();

  return {
    async stop() {
      stopped.abort();
      unsubscribe();
      await loop;
    },
  };
}
