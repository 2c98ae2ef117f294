/**
 * `ferryctl recover`: resume a post-copy that broke (RecoverMigration) now,
 * without waiting for the agent's own attempts, optionally to another
 * migration address of the destination. The job then goes RECOVERING, then
 * POSTCOPY again; `ferryctl watch` follows it.
 */
import { Option } from '@commander-js/extra-typings';
import { unary } from '../../../shared/client.js';
import { withAgent } from '../agent.js';
import { printResult } from '../output.js';
import type { Program } from '../program.js';
import { summary } from '../progress.js';
import { jobReply } from '../targets.js';
import { jobTarget, unicastAddress } from '../values.js';
import { JOB_ARGUMENT } from './jobs.js';

export function addRecoverCommand(program: Program): void {
  program
    .command('recover')
    .description('resume a job paused in post-copy now, optionally to another address of the destination (RecoverMigration)')
    .argument(...JOB_ARGUMENT, jobTarget)
    .addOption(
      new Option(
        '--dstqemu <IP>',
        "another address of the destination on the migration network to resume to (default: the job's)",
      ).argParser(unicastAddress),
    )
    .action(async (target, options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        const dstqemu = options.dstqemu ?? '';
        const reply = await jobReply(agent, target, 'RecoverMigration', (job) =>
          unary(agent.clients.migration, 'RecoverMigration', { job, dstqemu }, agent.callOptions),
        );
        printResult(agent, 'ferry.v1.RecoverMigrationResponse', reply, () => summary(reply.status));
      });
    });
}
