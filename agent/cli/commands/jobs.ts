/**
 * One job, by its id or by its VM: `status` (GetMigrationStatus), `watch`
 * (WatchMigration to the end) and `cancel` (CancelMigration).
 */
import { unary } from '../../../shared/client.js';
import type { JobSelector } from '../../../shared/generated/ferry/v1/JobSelector.js';
import { type Agent, withAgent } from '../agent.js';
import { followJob } from '../follow.js';
import { cancelOnInterruptOption } from '../options.js';
import { printResult } from '../output.js';
import type { Program } from '../program.js';
import { summary } from '../progress.js';
import { jobReply, type StatusReply } from '../targets.js';
import { jobTarget } from '../values.js';

export const JOB_ARGUMENT = [
  '<JOB|VM>',
  'a job id, or a VM (UUID or name) for its current or latest job; job:ID or vm:VM say which',
] as const;

export function addJobCommands(program: Program): void {
  addStatusReplyCommand(program, 'status', "a job's latest state", 'GetMigrationStatus', (agent, job) =>
    unary(agent.clients.migration, 'GetMigrationStatus', { job }, agent.callOptions),
  );

  program
    .command('watch')
    .description("follow a job's progress until it ends (WatchMigration); exit status 0 only if it COMPLETED")
    .argument(...JOB_ARGUMENT, jobTarget)
    .addOption(cancelOnInterruptOption())
    .action(async (target, options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        // The stream takes a job id; a VM's job is named by a status call first.
        const { status } = await jobReply(agent, target, 'GetMigrationStatus', (job) =>
          unary(agent.clients.migration, 'GetMigrationStatus', { job }, agent.callOptions),
        );
        await followJob(agent, status.jobId, { cancelOnInterrupt: options.cancelOnInterrupt === true });
      });
    });

  addStatusReplyCommand(program, 'cancel', 'abort a queued or running job; the VM stays on the source', 'CancelMigration', (agent, job) =>
    unary(agent.clients.migration, 'CancelMigration', { job }, agent.callOptions),
  );
}

/** A command on one job whose RPC answers the job's state, printed as the summary (or the response, with --json). */
function addStatusReplyCommand(
  program: Program,
  name: string,
  description: string,
  rpc: 'GetMigrationStatus' | 'CancelMigration',
  call: (agent: Agent, job: JobSelector) => Promise<StatusReply>,
): void {
  program
    .command(name)
    .description(`${description} (${rpc})`)
    .argument(...JOB_ARGUMENT, jobTarget)
    .action(async (target, _options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        const reply = await jobReply(agent, target, rpc, (job) => call(agent, job));
        printResult(agent, `ferry.v1.${rpc}Response`, reply, () => summary(reply.status));
      });
    });
}
