/**
 * Follows a running libvirt job: polls job statistics (each poll with its own
 * deadline, so a job lock held elsewhere delays a sample but never the
 * migration), listens to migration-iteration events between polls, and
 * notices a stall: data remaining that reaches no new low for the policy's
 * stall timeout (a dead link, or a guest that never converges) — without it
 * a migration over a downed NIC would wait for TCP to give up, many minutes.
 */
import { withDeadline } from './deadline.js';
import type { MigrationJob } from './migration-job.js';
import type { Clock, Hypervisor } from './ports.js';

export interface Monitor {
  stop(): Promise<void>;
}

export interface MonitorOptions {
  clock: Clock;
  pollIntervalMs: number;
  callTimeoutMs: number;
  /** Called once when the stall timeout (job.command.policy.stallTimeoutS) passes. */
  onStall?: (stalledForMs: number) => void;
}

export function startMonitor(job: MigrationJob, hypervisor: Hypervisor, options: MonitorOptions): Monitor {
  const stopped = new AbortController();
  const unsubscribe = hypervisor.onIteration(job.command.vmId, (iteration) => job.noteIteration(iteration));
  const stallTimeoutMs = job.command.policy.stallTimeoutS * 1000;
  let lowestRemaining = Number.POSITIVE_INFINITY;
  let lastLowAt = options.clock.now();
  let stallReported = false;

  const loop = (async () => {
    while (!stopped.signal.aborted) {
      try {
        const stats = await withDeadline(hypervisor.jobStats(job.command.vmId), options.callTimeoutMs, 'libvirt (job stats)');
        if (stopped.signal.aborted) break;
        if (stats.type === 'bounded' || stats.type === 'unbounded') {
          job.applyStats(stats);
          if (stats.postcopy && job.phase === 'migrating') job.setPhase('postcopy');
          if (stats.data.remaining < lowestRemaining) {
            lowestRemaining = stats.data.remaining;
            lastLowAt = options.clock.now();
          }
        }
      } catch {
        // A missed sample is not a failed migration: the perform call decides that.
      }
      const stalledFor = options.clock.now() - lastLowAt;
      if (stallTimeoutMs > 0 && stalledFor >= stallTimeoutMs && !stallReported && job.phase === 'migrating') {
        stallReported = true;
        options.onStall?.(stalledFor);
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
