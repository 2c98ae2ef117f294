/**
 * `ferryctl check VM --to HOST`: MigrationService.CheckMigration with the
 * flags migrate takes, so that "would this migrate?" is asked with the very
 * request that would be sent. Nothing changes on either host. Exit status 0
 * when nothing blocks, 1 when something does (or the call failed), so that a
 * script can write `ferryctl check … && ferryctl migrate …`.
 */
import { unary } from '../../../shared/client.js';
import type { CheckMigrationResponse__Output } from '../../../shared/generated/ferry/v1/CheckMigrationResponse.js';
import type { MigrationCheckFinding__Output } from '../../../shared/generated/ferry/v1/MigrationCheckFinding.js';
import { withAgent } from '../agent.js';
import { operationFailed } from '../exit.js';
import { addMigrationOptions, migrateRequestOf } from '../migration-options.js';
import { enumName, printResult } from '../output.js';
import type { Program } from '../program.js';
import { vmRef } from '../values.js';

export function addCheckCommand(program: Program): void {
  addMigrationOptions(
    program
      .command('check')
      .description(
        'whether a VM can migrate to a host, with what blocks it and what to fix; changes nothing (CheckMigration, exit status 1 when something blocks)',
      )
      .argument('<VM>', 'the VM: its UUID or libvirt name', vmRef),
  ).action(async (vm, options, command) => {
    await withAgent(command.optsWithGlobals(), async (agent) => {
      const migration = await migrateRequestOf(agent, vm, options);
      const answer = await unary(agent.clients.migration, 'CheckMigration', { migration }, agent.callOptions);
      printResult(agent, 'ferry.v1.CheckMigrationResponse', answer, () => checkText(answer, options.to));
      if (!answer.ok) throw operationFailed();
    });
  });
}

/** "ok: …" or "blocked: …", then one line per finding: blocking ones first, each with its side and reason. */
export function checkText(answer: CheckMigrationResponse__Output, destination: string): string {
  const verdict = answer.ok
    ? `ok: the VM can migrate to ${destination}`
    : `blocked: the VM cannot migrate to ${destination} (${answer.blocking.length} to fix)`;
  const line = (severity: string) => (f: MigrationCheckFinding__Output) =>
    `  ${severity} (${enumName(f.side, 'MIGRATION_CHECK_SIDE_')}, ${enumName(f.reason, 'MIGRATION_CHECK_REASON_').replaceAll('_', ' ')}): ${f.message}`;
  return [verdict, ...answer.blocking.map(line('blocking')), ...answer.warnings.map(line('warning'))].join('\n');
}
