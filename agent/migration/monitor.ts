/**
 * Follows a running libvirt job: polls job statistics (each poll with its own
 * deadline, so a job lock held elsewhere delays a sample but never the
 * migration) and listens to migration-iteration events between polls.
 */
import { withDeadline } from './deadline.js';
import type { MigrationJob } from './migration-job.js';
import type { Clock, Hypervisor } from './ports.js';

export interface Monitor {
  stop(): Promise<void>;
}

export function startMonitor(
  job: MigrationJob,
  hypervisor: Hypervisor,
  options: { clock: Clock; pollIntervalMs: number; callTimeoutMs: number },
): Monitor {
  const stopped = new AbortController();
  const unsubscribe = hypervisor.onIteration(job.command.vmId, (iteration) => job.noteIteration(iteration));

  const loop = (async () => {
    while (!stopped.signal.aborted) {
      try {
        const stats = await withDeadline(hypervisor.jobStats(job.command.vmId), options.callTimeoutMs, 'libvirt (job stats)');
        if (stopped.signal.aborted) break;
        if (stats.type === 'bounded' || stats.type === 'unbounded') {
          job.applyStats(stats);
          if (stats.postcopy && job.phase === 'migrating') job.setPhase('postcopy');
        }
      } catch {
        // A missed sample is not a failed migration: the perform call decides that.
      }
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
