/**
 * `ferryctl help [COMMAND...]`: the help of ferryctl, of a command or of a
 * subcommand ("help host info"). Replaces commander's own help command,
 * which shows the general help for a name it does not know: here an unknown
 * name is a usage error with a "did you mean", as for `ferryctl frobnicate`.
 */
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import type { Program } from '../program.js';
import { closest } from '../suggest.js';

export function addHelpCommand(program: Program): void {
  program
    .command('help')
    .description('show help for ferryctl or for a command (also: ferryctl COMMAND --help)')
    .argument('[COMMAND...]', 'the command, e.g. migrate, or host info')
    .action((names) => {
      let command: CommandUnknownOpts = program;
      for (const name of names) {
        const next = command.commands.find((c) => c.name() === name || c.aliases().includes(name));
        if (!next) {
          const guess = closest(
            name,
            command.commands.map((c) => c.name()),
          );
          const where = command === program ? '' : ` of '${command.name()}'`;
          command.error(`error: unknown command '${name}'${where}${guess ? `\n(Did you mean ${guess}?)` : ''}`, {
            code: 'commander.unknownCommand',
            exitCode: 2,
          });
        }
        command = next;
      }
      command.help();
    });
}
