/**
 * `ferryctl hibernate` (Migrate in mode FILE: the VM's state to a file on the
 * agent's host, its definition beside it, the VM stops) and `ferryctl
 * restore` (MigrationService.Restore: the VM back from those two files).
 */
import { randomUUID } from 'node:crypto';
import { Option } from '@commander-js/extra-typings';
import { unary } from '../../../shared/client.js';
import { withAgent } from '../agent.js';
import { cancelOnInterruptOption, requestIdOption } from '../options.js';
import { printResult } from '../output.js';
import type { Program } from '../program.js';
import { startJob } from '../start-job.js';
import { resolveVm } from '../targets.js';
import { hostPath, vmRef } from '../values.js';

const fileOption = (description: string) => new Option('--file <PATH>', description).argParser(hostPath).makeOptionMandatory();
const definitionOption = (description: string) => new Option('--definition <PATH>', description).argParser(hostPath).makeOptionMandatory();

export function addHibernationCommands(program: Program): void {
  program
    .command('hibernate')
    .description("save a running VM's state to a file on the agent's host and stop it (Migrate, mode FILE)")
    .argument('<VM>', 'the VM: its UUID or libvirt name', vmRef)
    .addOption(fileOption('the saved-state file to write (absolute, on the agent)'))
    .addOption(definitionOption('the definition file to write (absolute, on the agent)'))
    .option('--overwrite', 'replace existing files')
    .option('--detach', 'print the job id and return; the job continues on the agent')
    .addOption(requestIdOption())
    .addOption(cancelOnInterruptOption())
    .action(async (vm, options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        const request = {
          vmId: await resolveVm(agent, vm),
          mode: 'MIGRATION_MODE_FILE' as const,
          dst: options.file,
          dstparams: options.definition,
          overwrite: options.overwrite === true,
          requestId: options.requestId ?? randomUUID(),
        };
        await startJob(agent, request, options);
      });
    });

  program
    .command('restore')
    .description('bring a hibernated VM back from its saved-state and definition files (Restore)')
    .addOption(fileOption('the saved-state file hibernate wrote (absolute, on the agent)'))
    .addOption(definitionOption('the definition file hibernate wrote (absolute, on the agent)'))
    .option('--paused', 'leave the VM paused instead of running it')
    .addOption(requestIdOption())
    .action(async (options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        const request = {
          path: options.file,
          dstparams: options.definition,
          paused: options.paused === true,
          requestId: options.requestId ?? randomUUID(),
        };
        const reply = await unary(agent.clients.migration, 'Restore', request, agent.callOptions);
        printResult(agent, 'ferry.v1.RestoreResponse', reply, () => `restored VM ${reply.name} (${reply.vmId})`);
      });
    });
}
