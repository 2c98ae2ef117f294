/**
 * What watches a running libvirt job for Ferry, whoever started it (this
 * run's perform, or a job followed after a restart): the convergence
 * tracker that decides, the steering that acts, and the monitor that polls
 * and hands it samples.
 */
import { completionTimeoutMs, ConvergenceTracker } from './convergence.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import { startMonitor } from './monitor.js';
import type { Clock, Hypervisor } from '../ports.js';
import { Steering } from './steering.js';

export interface Supervision {
  steering: Steering;
  stop(): Promise<void>;
}

/** copiedBytes: memory plus the disks copy_storage moves (they lengthen the completion timeout). */
export function superviseJob(
  job: MigrationJob,
  deps: { hypervisor: Hypervisor; clock: Clock; pollIntervalMs: number },
  sizes: { memoryBytes: number; diskBytes: number },
): Supervision {
  const { policy } = job.command;
  const tracker = new ConvergenceTracker(policy, completionTimeoutMs(policy.completionTimeoutSPerGib, sizes.memoryBytes, sizes.diskBytes));
  const steering = new Steering(job, tracker, deps);
  const monitor = startMonitor(job, deps.hypervisor, { ...deps, onSample: steering.onSample });
  return { steering, stop: () => monitor.stop() };
}
