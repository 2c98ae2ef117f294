/**
 * The source's PrepareIncoming call, as a span of the job's prepare step:
 * what every mode sends (the VM, the job, this host and its migration
 * address, how the destination picks its own), and the attempt counted in
 * the job's status. prepare-outgoing.ts (REMOTE) and prepare-cold.ts (COLD)
 * add what their mode needs.
 */
import type { MigrationJob } from '../jobs/migration-job.js';
import type { IncomingOffer, PeerAgents, PrepareIncomingArgs } from '../ports.js';
import { inSpan, type TraceSpan } from '../tracing.js';

export type ModeArgs = Omit<PrepareIncomingArgs, 'vmId' | 'jobId' | 'sourceHost' | 'dstqemu' | 'migrationNetwork' | 'trace'>;

export function askToPrepare(
  job: MigrationJob,
  deps: { peers: PeerAgents; hostName: string },
  span: TraceSpan,
  args: ModeArgs,
): Promise<IncomingOffer> {
  const { command } = job;
  job.update({ prepareAttempts: job.snapshot().prepareAttempts + 1 });
  return inSpan(span.child('PrepareIncoming', { kind: 'client', attributes: { 'ferry.destination': command.dst } }), (call) =>
    deps.peers.prepareIncoming(command.dst, {
      vmId: command.vmId,
      jobId: job.id,
      sourceHost: deps.hostName,
      dstqemu: command.dstqemu,
      migrationNetwork: command.migrationNetwork,
      ...args,
      trace: call.context,
    }),
  );
}
