/**
 * `ferryctl migrate VM --to HOST`: MigrationService.Migrate in mode REMOTE,
 * with the migration's flags (migration-options.ts), then the job's progress.
 */
import { randomUUID } from 'node:crypto';
import { withAgent } from '../agent.js';
import { addMigrationOptions, migrateRequestOf } from '../migration-options.js';
import { cancelOnInterruptOption, requestIdOption } from '../options.js';
import type { Program } from '../program.js';
import { startJob } from '../start-job.js';
import { vmRef } from '../values.js';

export function addMigrateCommand(program: Program): void {
  addMigrationOptions(
    program
      .command('migrate')
      .description('live-migrate a VM from the agent (--from) to another host (--to) over the migration network (Migrate, mode REMOTE)')
      .argument('<VM>', 'the VM: its UUID or libvirt name', vmRef),
  )
    .option('--detach', 'print the job id and return; the job continues on the agent')
    .addOption(requestIdOption())
    .addOption(cancelOnInterruptOption())
    .action(async (vm, options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        const request = { ...(await migrateRequestOf(agent, vm, options)), requestId: options.requestId ?? randomUUID() };
        await startJob(agent, request, options);
      });
    });
}
