/**
 * `ferryctl migrate VM --to HOST`: MigrationService.Migrate in mode REMOTE,
 * with the migration's flags (migration-options.ts), or with --cold in mode
 * COLD (cold-options.ts); then the job's progress.
 */
import { randomUUID } from 'node:crypto';
import { withAgent } from '../agent.js';
import { addColdOptions, coldRefusal, coldRequest } from '../cold-options.js';
import { usageError } from '../exit.js';
import { addMigrationOptions, migrateRequestOf } from '../migration-options.js';
import { cancelOnInterruptOption, requestIdOption } from '../options.js';
import type { Program } from '../program.js';
import { startJob } from '../start-job.js';
import { vmRef } from '../values.js';

export function addMigrateCommand(program: Program): void {
  addColdOptions(
    addMigrationOptions(
      program
        .command('migrate')
        .description(
          'live-migrate a VM from the agent (--from) to another host (--to) over the migration network (Migrate, mode REMOTE); with --cold, move a shut-off VM and its local volumes (mode COLD)',
        )
        .argument('<VM>', 'the VM: its UUID or libvirt name', vmRef),
    ),
  )
    .option('--detach', 'print the job id and return; the job continues on the agent')
    .addOption(requestIdOption())
    .addOption(cancelOnInterruptOption())
    .action(async (vm, options, command) => {
      // Before connecting: a refused combination sends nothing, not even the VM's lookup.
      const refusal = coldRefusal(options);
      if (refusal) throw usageError(refusal);
      await withAgent(command.optsWithGlobals(), async (agent) => {
        const live = await migrateRequestOf(agent, vm, options);
        const request = { ...(options.cold ? coldRequest(live, options) : live), requestId: options.requestId ?? randomUUID() };
        await startJob(agent, request, options);
      });
    });
}
