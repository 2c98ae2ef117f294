/**
 * `ferryctl limits`: the host's concurrency limits. With --outgoing or
 * --incoming it sets them (SetMigrationLimits, until the agent restarts or
 * reloads its configuration); without, it shows those in force
 * (GetCapabilities' limits).
 */
import { Option } from '@commander-js/extra-typings';
import { unary } from '../../../shared/client.js';
import { withAgent } from '../agent.js';
import { fields, printResult } from '../output.js';
import type { Program } from '../program.js';
import { wholeNumber } from '../values.js';

const limit = wholeNumber(1, 64, 'concurrent migrations');

export function addLimitsCommand(program: Program): void {
  program
    .command('limits')
    .description('show the concurrency limits in force, or set them with --outgoing/--incoming (SetMigrationLimits)')
    .addOption(new Option('--outgoing <N>', 'concurrent outgoing migrations; more wait QUEUED').argParser(limit))
    .addOption(new Option('--incoming <N>', 'concurrent incoming migrations; more are refused, and their sources retry').argParser(limit))
    .action(async (options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        if (options.outgoing === undefined && options.incoming === undefined) {
          const { limits } = await unary(agent.clients.host, 'GetCapabilities', {}, agent.callOptions);
          const shown = limits ?? { maxOutgoing: 0, maxIncoming: 0, portRangeFirst: 0, portRangeLast: 0 };
          printResult(agent, 'ferry.v1.Limits', shown, () =>
            fields([
              ['outgoing', String(shown.maxOutgoing)],
              ['incoming', String(shown.maxIncoming)],
              ['ports', `${shown.portRangeFirst}-${shown.portRangeLast}`],
            ]),
          );
          return;
        }
        const request = {
          ...(options.outgoing === undefined ? {} : { maxOutgoing: options.outgoing }),
          ...(options.incoming === undefined ? {} : { maxIncoming: options.incoming }),
        };
        const reply = await unary(agent.clients.migration, 'SetMigrationLimits', request, agent.callOptions);
        printResult(agent, 'ferry.v1.SetMigrationLimitsResponse', reply, () =>
          fields([
            ['outgoing', String(reply.maxOutgoing)],
            ['incoming', String(reply.maxIncoming)],
          ]),
        );
      });
    });
}
