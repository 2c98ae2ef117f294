/**
 * One job, by its id or by its VM: `status` (GetMigrationStatus), `watch`
 * (WatchMigration to the end) and `cancel` (CancelMigration).
 */
import { unary } from '../../../shared/client.js';
import { withAgent } from '../agent.js';
import { operationFailed } from '../exit.js';
import { followJob } from '../follow.js';
import { cancelOnInterruptOption } from '../options.js';
import { printResult } from '../output.js';
import type { Program } from '../program.js';
import { summary } from '../progress.js';
import { onJob } from '../targets.js';
import { jobTarget } from '../values.js';

export const JOB_ARGUMENT = [
  '<JOB|VM>',
  'a job id, or a VM (UUID or name) for its current or latest job; job:ID or vm:VM say which',
] as const;

export function addJobCommands(program: Program): void {
  program
    .command('status')
    .description("a job's latest state (GetMigrationStatus)")
    .argument(...JOB_ARGUMENT, jobTarget)
    .action(async (target, _options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        const reply = await onJob(agent, target, (job) => unary(agent.clients.migration, 'GetMigrationStatus', { job }, agent.callOptions));
        const { status } = reply;
        if (!status) throw operationFailed('the agent answered GetMigrationStatus without the job');
        printResult(agent, 'ferry.v1.GetMigrationStatusResponse', reply, () => summary(status));
      });
    });

  program
    .command('watch')
    .description("follow a job's progress until it ends (WatchMigration); exit status 0 only if it COMPLETED")
    .argument(...JOB_ARGUMENT, jobTarget)
    .addOption(cancelOnInterruptOption())
    .action(async (target, options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        // The stream takes a job id; a VM's job is named by a status call first.
        const { status } = await onJob(agent, target, (job) =>
          unary(agent.clients.migration, 'GetMigrationStatus', { job }, agent.callOptions),
        );
        if (!status) throw operationFailed('the agent answered GetMigrationStatus without the job');
        await followJob(agent, status.jobId, { cancelOnInterrupt: options.cancelOnInterrupt === true });
      });
    });

  program
    .command('cancel')
    .description('abort a queued or running job; the VM stays on the source (CancelMigration)')
    .argument(...JOB_ARGUMENT, jobTarget)
    .action(async (target, _options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        const reply = await onJob(agent, target, (job) => unary(agent.clients.migration, 'CancelMigration', { job }, agent.callOptions));
        const { status } = reply;
        if (!status) throw operationFailed('the agent answered CancelMigration without the job');
        printResult(agent, 'ferry.v1.CancelMigrationResponse', reply, () => summary(status));
      });
    });
}
