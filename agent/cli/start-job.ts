/**
 * Starting a job (migrate, hibernate): one Migrate call with a request id, so
 * that trying again after a lost answer cannot start a second job, then
 * following it (follow.ts) unless --detach. A Ctrl-C while the agent has not
 * answered yet waits for the answer (the job may exist already, and only the
 * answer names it); a second one leaves at once.
 */
import { unary } from '../../shared/client.js';
import type { MigrateRequest } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import type { MigrateResponse__Output } from '../../shared/generated/ferry/v1/MigrateResponse.js';
import type { Agent } from './agent.js';
import { CliExit, EXIT } from './exit.js';
import { followJob } from './follow.js';
import { onInterrupt } from './interrupt.js';
import { printResult } from './output.js';

export interface StartOptions {
  detach?: true | undefined;
  cancelOnInterrupt?: true | undefined;
}

export async function startJob(agent: Agent, request: MigrateRequest & { requestId: string }, options: StartOptions): Promise<void> {
  const { requestId } = request;
  process.stderr.write(`ferryctl: request id ${requestId} (to retry this exact request: --request-id ${requestId})\n`);
  let interrupted = false;
  let stopListening = () => {};
  const leftEarly = new Promise<never>((_, reject) => {
    stopListening = onInterrupt((count) => {
      interrupted = true;
      if (count === 1) {
        process.stderr.write('interrupted: waiting for the agent to answer, which names the job (Ctrl-C again to leave now)\n');
        return;
      }
      process.stderr.write(
        `interrupted: request ${requestId} may have started a job on ${agent.from}; \`ferryctl list --from ${agent.from}\` shows it\n`,
      );
      reject(new CliExit(EXIT.interrupted));
    });
  });
  let accepted: MigrateResponse__Output;
  try {
    accepted = await Promise.race([unary(agent.clients.migration, 'Migrate', request, agent.callOptions), leftEarly]);
  } finally {
    stopListening();
  }
  if (options.detach) {
    printResult(agent, 'ferry.v1.MigrateResponse', accepted, () => accepted.jobId);
    if (interrupted) throw new CliExit(EXIT.interrupted);
    return;
  }
  await followJob(agent, accepted.jobId, { cancelOnInterrupt: options.cancelOnInterrupt === true, interrupted });
}
