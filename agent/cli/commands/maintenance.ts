/**
 * `ferryctl maintenance enter|status|exit`: emptying the agent's host before
 * an upgrade (HostService's maintenance methods). `enter --wait` and
 * `status --watch` follow WatchMaintenance until the drain ends: exit
 * status 0 when DRAINED (or when there is no maintenance), 1 when
 * INCOMPLETE (some VMs stayed, each with its reasons) or when maintenance
 * was left before the drain ended; Ctrl-C leaves the maintenance running (130).
 */
import { type Command, Option } from '@commander-js/extra-typings';
import { unary } from '../../../shared/client.js';
import type { Maintenance__Output } from '../../../shared/generated/ferry/v1/Maintenance.js';
import type { WatchMaintenanceResponse__Output } from '../../../shared/generated/ferry/v1/WatchMaintenanceResponse.js';
import { type Agent, withAgent } from '../agent.js';
import { CliExit, EXIT } from '../exit.js';
import { maintenanceText, phaseOf } from '../maintenance-text.js';
import { addPolicyOptions, policyOf } from '../migration-options.js';
import { printResult, printStreamed } from '../output.js';
import type { GlobalOptions, Program } from '../program.js';
import { readStream } from '../stream.js';
import { cidr, destinationList, wholeNumber } from '../values.js';

type Group = Command<[], Record<never, never>, GlobalOptions>;

export function addMaintenanceCommands(program: Program): void {
  const group: Group = program
    .command('maintenance')
    .description("empty the agent's host before an upgrade: its VMs migrate to other hosts, incoming migrations are refused")
    .helpCommand(false);

  addPolicyOptions(
    group
      .command('enter')
      .description(
        'refuse incoming migrations and migrate every running VM to the destinations, the most free memory first (EnterMaintenance)',
      )
      .addOption(
        new Option('--to <HOST[:PORT][=DSTQEMU],...>', 'the destinations (repeatable); =DSTQEMU: its address on the migration network')
          .argParser(destinationList)
          .makeOptionMandatory(),
      )
      .addOption(
        new Option('--network <CIDR>', 'the migration network: each destination without a DSTQEMU picks its address in it').argParser(cidr),
      )
      .addOption(
        new Option('--max-parallel <N>', "migrations at once (0: the host's outgoing limit)").argParser(
          wholeNumber(0, 64, "0 = the host's outgoing limit"),
        ),
      )
      .option('--wait', 'follow the drain to its end: exit status 0 when DRAINED, 1 when INCOMPLETE'),
  ).action(async (options, command) => {
    await withAgent(command.optsWithGlobals(), async (agent) => {
      const request = {
        destinations: options.to,
        migrationNetwork: options.network ?? '',
        policy: policyOf(options),
        maxParallel: options.maxParallel ?? 0,
      };
      const { maintenance } = await unary(agent.clients.host, 'EnterMaintenance', request, agent.callOptions);
      if (options.wait) return follow(agent);
      printResult(agent, 'ferry.v1.Maintenance', maintenance ?? {}, () => maintenanceText(maintenance));
    });
  });

  group
    .command('status')
    .description(
      "where the host's maintenance stands: each VM, where it went or why it stayed (GetMaintenance); --watch: every change (WatchMaintenance)",
    )
    .option('--watch', 'follow it until the drain ends: exit status 0 when DRAINED, 1 when INCOMPLETE')
    .action(async (options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        if (options.watch) return follow(agent);
        const { maintenance } = await unary(agent.clients.host, 'GetMaintenance', {}, agent.callOptions);
        printResult(agent, 'ferry.v1.Maintenance', maintenance ?? {}, () => maintenanceText(maintenance));
      });
    });

  group
    .command('exit')
    .description('leave maintenance: incoming migrations are accepted again, no further VM starts; VMs that left stay (ExitMaintenance)')
    .option('--cancel-migrations', "also cancel the drain's migrations under way (those in post-copy finish)")
    .action(async (options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        const request = { cancelMigrations: options.cancelMigrations ?? false };
        const { maintenance } = await unary(agent.clients.host, 'ExitMaintenance', request, agent.callOptions);
        printResult(agent, 'ferry.v1.Maintenance', maintenance ?? {}, () => maintenanceText(maintenance));
      });
    });
}

/**
 * WatchMaintenance to its end: the status at each change (a person sees
 * every change; --json one Maintenance per line), then the exit status the
 * drain's end deserves.
 */
async function follow(agent: Agent): Promise<void> {
  const seen: { last: Maintenance__Output | null } = { last: null };
  const outcome = await readStream(
    agent.clients.host.WatchMaintenance({}),
    ({ maintenance }: WatchMaintenanceResponse__Output) => {
      seen.last = maintenance;
      if (agent.json) printStreamed('ferry.v1.Maintenance', maintenance ?? {});
      else process.stdout.write(`${maintenanceText(maintenance)}\n\n`);
    },
    (_count, leave) => {
      process.stderr.write(
        `interrupted: the maintenance continues on ${agent.from}; \`ferryctl maintenance status --from ${agent.from}\` shows it\n`,
      );
      leave();
    },
  ).done;
  if (outcome === 'left') throw new CliExit(EXIT.interrupted);
  // Success: the drain emptied the host, or there was no maintenance to follow; INCOMPLETE, or one left mid-drain, is not.
  const ended = seen.last;
  const phase = phaseOf(ended);
  if (phase === 'drained' || (phase === 'off' && !ended?.enteredTime)) return;
  throw new CliExit(EXIT.failed);
}
